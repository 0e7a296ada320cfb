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

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @classmethod
    def is_campaign_file(cls, name: str) -> bool:
        """True for the file names a campaign directory is recognised by (store or summary)."""
        return name in (STORE_FILE, SUMMARY_FILE)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader (or a kill) sees the old file or the new one, never a part.

    Writes a temporary sibling, fsyncs it, then ``os.replace``s it over ``path``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON, written with :func:`write_text_atomic`."""
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")
