"""The Executor seam: where runs execute. Runs may finish out of order."""

from __future__ import annotations

import time
import traceback
from abc import ABC, abstractmethod

from bomix.backends.base import Backend
from bomix.runs import RunResult, RunSpec


def safe_run(backend: Backend, spec: RunSpec) -> RunResult:
    """``backend.run(spec)`` that never raises: an exception becomes a ``failed`` result."""
    t0 = time.perf_counter()
    try:
        res = backend.run(spec)
    except Exception as exc:  # noqa: BLE001 - a run's failure must not stop the campaign
        tb = traceback.format_exc(limit=3)
        return RunResult(spec, status="failed", wall_time=time.perf_counter() - t0,
                         error=f"{type(exc).__name__}: {exc}\n{tb}")
    if not res.wall_time:
        res.wall_time = time.perf_counter() - t0
    return res


class Executor(ABC):
    """Dispatches specs to a backend and hands back results as they finish.

    Lifecycle: ``start(backend)``, then any number of ``submit`` / ``wait``, then ``shutdown``.
    """

    name: str = "executor"
    capacity: int = 1  # runs it can execute at once

    @abstractmethod
    def start(self, backend: Backend) -> None:
        """Prepare workers for ``backend`` (pickled to them where they are other processes)."""

    @abstractmethod
    def submit(self, spec: RunSpec) -> None:
        """Start ``spec`` (it has a run id)."""

    @abstractmethod
    def wait(self) -> list[RunResult]:
        """Block until at least one submitted run finishes; return every finished one."""

    @property
    @abstractmethod
    def n_running(self) -> int:
        """Submitted runs whose result has not been returned by ``wait`` yet."""

    def shutdown(self) -> None:
        """Stop workers (running runs are abandoned; a resumed campaign re-runs them)."""
