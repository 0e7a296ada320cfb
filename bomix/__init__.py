"""bomix: choose LLM data mixtures with as little proxy compute as possible."""

__version__ = "0.1.0"
