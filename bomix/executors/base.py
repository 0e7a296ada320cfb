"""The Executor seam: where runs execute. Runs may finish out of order."""

from __future__ import annotations

import time
import traceback
from abc import ABC, abstractmethod

from bomix.backends.base import Backend
from bomix.runs import RunResult, RunSpec


#: ``RunResult.info["failure"]`` of a run lost to the infrastructure (worker died, node lost): the
#: campaign retries those up to the executor's ``max_retries``; a run's own failure is never retried.
INFRA = "infrastructure"


def infra_failure(spec: RunSpec, reason: str) -> RunResult:
    """A ``failed`` result for a run the infrastructure lost (retryable)."""
    return RunResult(spec, "failed", error=reason, info={"failure": INFRA})


def is_infra_failure(res: RunResult) -> bool:
    return res.status == "failed" and isinstance(res.info, dict) and res.info.get("failure") == INFRA


def safe_run(backend: Backend, spec: RunSpec) -> RunResult:
    """``backend.run(spec)`` that never raises and always returns a result for ``spec``.

    An exception (``SystemExit`` included; ``KeyboardInterrupt`` is let through so Ctrl-C stops the
    campaign) or a return value that is not a ``RunResult`` becomes a ``failed`` result with the
    reason; a result for another run id is re-attributed to ``spec``.
    """
    t0 = time.perf_counter()
    try:
        res = backend.run(spec)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a run's failure (even sys.exit) must not stop the campaign
        tb = traceback.format_exc(limit=3)
        return RunResult(spec, status="failed", wall_time=time.perf_counter() - t0,
                         error=f"{type(exc).__name__}: {exc}\n{tb}")
    if not isinstance(res, RunResult):
        return RunResult(spec, status="failed", wall_time=time.perf_counter() - t0,
                         error=f"backend {getattr(backend, 'name', type(backend).__name__)} returned "
                               f"{type(res).__name__}, not a RunResult")
    if res.spec.run_id != spec.run_id:
        res.spec = spec
    if not res.wall_time:
        res.wall_time = time.perf_counter() - t0
    return res


class Executor(ABC):
    """Dispatches specs to a backend and hands back results as they finish.

    Lifecycle: ``start(backend)``, then any number of ``submit`` / ``wait``, then ``shutdown``.
    """

    name: str = "executor"
    capacity: int = 1  # runs it can execute at once
    max_retries: int = 0  # infrastructure failures of one run retried by the campaign (each charged)

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
