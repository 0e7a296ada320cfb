"""Ray core: one remote task per run, results collected as they finish (``executor=ray``; needs the
``ray`` extra).

The backend is put in Ray's object store once; each task runs :func:`safe_run` on it with
``num_gpus`` / ``num_cpus`` reserved, so Ray places at most one run per GPU when ``num_gpus=1``.
With ``address=None`` a local Ray instance is started (and stopped at shutdown); give
``address="auto"`` or ``ray://host:10001`` to use a running cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.executors.base import Executor, infra_failure, safe_run
from bomix.runs import RunResult, RunSpec


def _job(backend: Backend, spec: RunSpec) -> RunResult:
    return safe_run(backend, spec)


class RayExecutor(Executor):
    """Runs specs as Ray tasks.

    Args:
        address: Ray cluster address; ``None`` starts a local instance.
        capacity: runs in flight at once.
        num_gpus / num_cpus: resources reserved per run.
        init: extra ``ray.init`` arguments for a local instance (e.g. ``{"num_cpus": 2}``).
        max_retries: times the campaign retries a run whose worker or node died (each retry a new,
            charged run; Ray's own silent task retries are off).
    """

    name = "ray"

    def __init__(self, address: str | None = None, capacity: int = 2, num_gpus: float = 0, num_cpus: float = 1,
                 init: Mapping[str, Any] | None = None, max_retries: int = 1):
        if capacity < 1:
            raise BomixError(f"executor.capacity must be >= 1, got {capacity}")
        if int(max_retries) < 0:
            raise BomixError(f"executor.max_retries must be >= 0, got {max_retries}")
        self.address, self.capacity = address, int(capacity)
        self.num_gpus, self.num_cpus = float(num_gpus), float(num_cpus)
        self.init_kwargs = dict(init or {})
        self.max_retries = int(max_retries)
        self._refs: dict[Any, RunSpec] = {}
        self._started_ray = False

    def start(self, backend: Backend) -> None:
        try:
            import ray
        except ImportError:
            raise BomixError("executor=ray needs ray: pip install 'bomix[ray]'") from None
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            try:
                ray.init(address=self.address, **kw)
            except Exception as exc:  # noqa: BLE001
                raise BomixError(f"cannot start or reach Ray at {self.address or 'a local instance'}: "
                                 f"{str(exc).splitlines()[0]}") from None
            self._started_ray = True
        self._ray = ray
        self._backend_ref = ray.put(backend)
        self._task = ray.remote(_job).options(num_gpus=self.num_gpus, num_cpus=self.num_cpus,
                                              max_retries=0, retry_exceptions=False)

    def submit(self, spec: RunSpec) -> None:
        self._refs[self._task.remote(self._backend_ref, spec)] = spec

    def wait(self) -> list[RunResult]:
        if not self._refs:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        more, _ = ray.wait([r for r in self._refs if r not in ready], num_returns=len(self._refs) - len(ready),
                           timeout=0) if len(self._refs) > len(ready) else ([], [])
        out = []
        for ref in list(ready) + list(more):
            spec = self._refs.pop(ref)
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:  # the task itself raised (safe_run could not run)
                msg = str(exc).strip().splitlines()
                out.append(RunResult(spec, "failed", error=f"ray task failed: {msg[-1] if msg else type(exc).__name__}"))
            except ray.exceptions.RayError as exc:  # worker crashed, node died, object lost: infrastructure
                msg = str(exc).strip().splitlines()
                out.append(infra_failure(spec, f"ray {type(exc).__name__}: {msg[0] if msg else ''}"[:300]))
        return out

    @property
    def n_running(self) -> int:
        return len(self._refs)

    def shutdown(self) -> None:
        ray = getattr(self, "_ray", None)
        if ray is None:
            return
        for ref in list(self._refs):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort
                pass
        self._refs.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
