"""bomix: choose LLM data mixtures with as little proxy compute as possible."""

__version__ = "0.1.0"

__all__ = ["Study", "__version__"]


def __getattr__(name: str):
    if name in ("Study", "Trial"):  # lazy: `import bomix` stays light for the CLI
        from bomix import study

        return getattr(study, name)
    raise AttributeError(f"module 'bomix' has no attribute {name!r}")
