"""One exception type for user errors: the CLI prints its message as one line, no traceback."""

from __future__ import annotations


class BomixError(Exception):
    """A bad input or state the user can fix; the message says what is wrong and how to fix it."""
