"""One writer per campaign: an exclusive ``flock`` on the campaign directory's lock file.

The lock is held for the campaign's lifetime and released by the kernel when the holder exits,
however it exits (a SIGKILLed campaign leaves no stale lock). The file records who holds it
(pid, host, start time) so a refused second process can say so in one line.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from bomix.errors import BomixError
from bomix.layout import CampaignLayout, open_nofollow


class CampaignLock:
    """Exclusive lock on a campaign directory; a context manager.

    Args:
        directory: the campaign directory (created if missing).

    Raises (on acquire):
        BomixError: another process (or another CampaignLock in this one) holds it.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = CampaignLayout(self.directory).lock
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "CampaignLock":
        if self._fd is not None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BomixError(f"cannot create the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise BomixError(f"campaign directory {self.directory} is in use by {holder}: wait for it to "
                             "finish (or stop it), or choose another directory") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __del__(self) -> None:  # a forgotten campaign object frees its directory when collected
        try:
            self.release()
        except (OSError, TypeError, AttributeError):  # at interpreter exit os may be half torn down
            pass

    def __enter__(self) -> "CampaignLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder(directory: str | Path) -> str | None:
    """Who holds a campaign directory's lock now: ``"pid N on HOST since T"`` (or ``"another process"``), or
    None when nobody does (no lock file, released, or its holder died: the kernel dropped its flock).

    Probes with a shared, non-blocking ``flock`` taken and dropped at once (a holder's exclusive flock
    refuses it); never creates, writes or follows a link to the file.

    Raises:
        OSError: the lock file exists but cannot be opened or probed (permissions, a link).
    """
    path = CampaignLayout(Path(directory)).lock
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe(os.pread(fd, 4096, 0))
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _describe(raw: bytes) -> str:
    try:
        info = json.loads(raw.decode())
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {int(info['pid'])} on {str(info['host'])[:64]} since {started}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "another process (it has not written its pid yet)"
