"""The campaign directory's layout: the one module that knows its file names.

A campaign directory holds::

    store.sqlite    the store (bomix.store), the source of truth
    summary.json    written (atomically) when the campaign stops
    lock            held (flock) by the one process running the campaign (bomix.lock)
    checkpoints/    trainer checkpoints, one file per validated run id
    tensorboard/    TensorBoard event files (logger=tensorboard)
    wandb/          an offline W&B run (logger=wandb; W&B names the folder itself)

Everything else that needs one of these paths asks :class:`CampaignLayout`.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bomix.errors import BomixError

STORE_FILE = "store.sqlite"
SUMMARY_FILE = "summary.json"
LOCK_FILE = "lock"
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"


@dataclass(frozen=True)
class CampaignLayout:
    """Paths inside one campaign directory (nothing is created by constructing it)."""

    directory: Path

    def __init__(self, directory: str | Path):
        object.__setattr__(self, "directory", Path(directory))

    @property
    def store(self) -> Path:
        return self.directory / STORE_FILE

    @property
    def summary(self) -> Path:
        return self.directory / SUMMARY_FILE

    @property
    def lock(self) -> Path:
        return self.directory / LOCK_FILE

    @property
    def checkpoints(self) -> Path:
        return self.directory / CHECKPOINT_DIR

    @property
    def tensorboard(self) -> Path:
        return self.directory / TENSORBOARD_DIR

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporaries a killed :func:`write_text_atomic` left (call only while holding the lock)."""
        gone = []
        for name in (SUMMARY_FILE,):
            for p in self.directory.glob(f".{name}.*.tmp"):
                p.unlink(missing_ok=True)
                gone.append(p)
        return gone

    def check_files(self) -> None:
        """Refuse a campaign directory whose lock, store (or its SQLite side files) or summary is a symbolic
        link: writing through one would overwrite whatever it points to (:func:`refuse_symlink`)."""
        for p in (self.lock, self.store, Path(f"{self.store}-wal"), Path(f"{self.store}-shm"),
                  Path(f"{self.store}-journal"), self.summary):
            refuse_symlink(p)

    @classmethod
    def is_campaign_file(cls, name: str) -> bool:
        """True for the file names a campaign directory is recognised by (store or summary)."""
        return name in (STORE_FILE, SUMMARY_FILE)


def refuse_symlink(path: str | Path) -> None:
    """Raise if ``path`` is a symbolic link (bomix never writes through one: it would overwrite its target).

    Raises:
        BomixError: one line naming the link and where it points.
    """
    path = Path(path)
    if path.is_symlink():
        raise BomixError(f"{path} is a symbolic link (to {os.readlink(path)}): bomix never writes through one, "
                         "as that would overwrite the file it points to; remove the link and re-run")


def open_nofollow(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (``O_NOFOLLOW``); returns the descriptor.

    Raises:
        BomixError: ``path`` is a symbolic link (one line, :func:`refuse_symlink`'s message).
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_symlink(path)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader (or a kill) sees the old file or the new one, never a part.

    Writes a temporary sibling, fsyncs it, then ``os.replace``s it over ``path``. A symbolic link at
    ``path`` is refused (:func:`refuse_symlink`), never replaced or followed.
    """
    path = Path(path)
    refuse_symlink(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _io_error(path, exc) from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _io_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _io_error(path: Path, exc: OSError) -> Exception:
    """A full or read-only file system is one line (the earlier file is intact); anything else stays itself."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
        return BomixError(f"cannot write {path} ({exc.strerror}): free space or make its folder writable and "
                          "re-run (the earlier file, if any, is intact)")
    return exc


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON, written with :func:`write_text_atomic`."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
