"""One exception type for user errors: the CLI prints its message as one line, no traceback."""

from __future__ import annotations


class BomixError(Exception):
    """A bad input or state the user can fix; the message says what is wrong and how to fix it."""


def unwritable(exc: OSError, option: str) -> str | None:
    """One line for ``exc``, an OSError making or writing the path the user gave as ``option`` (a file in
    the way, permission denied, a read-only or full file system); None for any other OSError."""
    import errno
    from pathlib import Path

    if not exc.filename or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                                             errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return None
    path = Path(exc.filename)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"{blocker} is not a directory (it is a file): choose another {option}"
        return f"{path} already exists: choose another {option}"
    if exc.errno == errno.EISDIR:
        return f"{path} is a directory: give {option} a file name"
    why = exc.strerror or errno.errorcode.get(exc.errno, "error")
    return f"cannot write {path} ({why}): choose a writable {option}"
