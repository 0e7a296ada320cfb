"""Local worker processes die with the process that started them.

A worker (``executor=process``, a replay fitting pool, a benchmark sweep) whose parent is killed
(``kill -9``, the OOM killer, a lost terminal) would otherwise live on, reparented to init: it waits
forever on a queue whose other end it holds itself, keeping its memory and GPU, and keeps
multiprocessing's resource tracker (and a fork server), which exit only once every holder of their
pipe has, alive with it.

:func:`die_with_parent`, run first thing in the worker (a pool's ``initializer``, with
:func:`guard_args` as ``initargs``), arms:

1. Linux, for a direct child: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the worker
   the moment its parent goes, even while it is stuck in C code holding the GIL. The signal is tied
   to the *thread* that started the worker (it fires when that thread exits, even if the process
   lives on), so it is armed only when that thread was the main thread (``pdeathsig``).
2. Everywhere: a daemon thread that ``os._exit``\\ s once the parent is gone: for a direct child, when
   ``os.getppid()`` changes (it was reparented); for a worker started through an intermediary (the
   ``forkserver`` start method: the fork server is its parent, and it lives as long as its workers
   do), when the original process exits (``pidfd`` where available, else polling ``kill(pid, 0)``).
   A parent that died before the worker could arm anything is caught by the first check, at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import sys
import threading
import time

#: ``prctl`` option (``<linux/prctl.h>``).
PR_SET_PDEATHSIG = 1
#: exit status of a worker that found its parent gone (nobody is left to read it; for the record).
EXIT_ORPHANED = 70

_watching: int | None = None  # the pid this process already watches


def set_pdeathsig(sig: int = signal.SIGKILL) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` for the calling process; ``False`` where unavailable (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # no loadable libc, or a libc without prctl
        return False
    return prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def _watch_parent(parent_pid: int, poll: float) -> None:
    while True:
        time.sleep(poll)
        if os.getppid() != parent_pid:
            os._exit(EXIT_ORPHANED)


def _open_pidfd(pid: int) -> int | None:
    pidfd_open = getattr(os, "pidfd_open", None)  # Linux >= 5.3
    if pidfd_open is None:
        return None
    try:
        return pidfd_open(pid)
    except OSError:  # gone already (ESRCH: the caller's next check sees it), or not supported by the kernel
        return None


def _gone(pid: int, pidfd: int | None) -> bool:
    if pidfd is not None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(0))  # readable once the process has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


def _watch_pid(pid: int, pidfd: int | None, poll: float) -> None:
    if pidfd is not None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll()  # blocks until the process exits
        os._exit(EXIT_ORPHANED)
    while not _gone(pid, None):
        time.sleep(poll)
    os._exit(EXIT_ORPHANED)


def die_with_parent(parent_pid: int | None = None, pdeathsig: bool = True, poll: float = 0.5) -> None:
    """Make the calling process exit when the process that started it does (call it early in the child).

    Args:
        parent_pid: the starting process's pid, captured there when it started this one
            (``os.getpid()``; a pool passes :func:`guard_args`); ``None`` = this process's parent now.
            Passing it lets a worker whose parent died before this call notice at once, and lets a
            worker started through a fork server watch the right process.
        pdeathsig: also arm Linux's ``PR_SET_PDEATHSIG`` (SIGKILL) when ``parent_pid`` is this
            process's parent. Pass ``False`` unless the thread that started this process lives as long
            as that process (the main thread): the kernel sends the signal when that *thread* exits,
            which would kill a healthy worker started from a short-lived thread. The watchdog thread
            (per process, not per thread) runs either way.
        poll: seconds between the watchdog's checks (where it cannot block on a pidfd).
    """
    global _watching
    parent = os.getppid() if parent_pid is None else int(parent_pid)
    direct = os.getppid() == parent
    if direct:
        if pdeathsig:
            set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:  # died between the two checks, before the prctl was armed
            os._exit(EXIT_ORPHANED)
        target, args = _watch_parent, (parent, float(poll))
    else:  # started through an intermediary (fork server), or reparented: the parent died already
        pidfd = _open_pidfd(parent)
        if _gone(parent, pidfd):
            os._exit(EXIT_ORPHANED)
        target, args = _watch_pid, (parent, pidfd, float(poll))
    if _watching == parent:
        return
    _watching = parent
    threading.Thread(target=target, args=args, name="bomix-parent-watch", daemon=True).start()


def pdeathsig_safe_here() -> bool:
    """Whether a process started from the calling thread may arm ``PR_SET_PDEATHSIG`` (main thread only)."""
    return threading.current_thread() is threading.main_thread()


def guard_args() -> tuple[int, bool]:
    """``initargs`` of :func:`die_with_parent` for a process pool whose workers start from the calling thread.

    Any start method: under ``spawn`` and ``fork`` the workers are this process's children; under
    ``forkserver`` they are the fork server's, and watch this process by its pid.

    Example: ``ProcessPoolExecutor(n, mp_context=ctx, initializer=die_with_parent, initargs=guard_args())``.
    """
    return os.getpid(), pdeathsig_safe_here()
