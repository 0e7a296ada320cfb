"""Moved: the logged-run table format lives in :mod:`bomix.runtable` (this name stays importable)."""

from bomix.runtable import *  # noqa: F401,F403
from bomix.runtable import LoggedRuns, load, read_table, validate  # noqa: F401
