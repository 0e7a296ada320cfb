"""Replay simulators built from logged runs (format, builder, backend). See ``simulator/README.md``."""

from bomix.backends.replay.backend import ReplayBackend

__all__ = ["ReplayBackend"]
