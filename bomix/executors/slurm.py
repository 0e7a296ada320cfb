"""Slurm through submitit: specs submitted together go out as one job array; results are collected
as jobs finish (``executor=slurm``; needs the ``slurm`` extra).

``cluster=None`` lets submitit pick (Slurm when ``sbatch`` is present, else local processes);
``cluster="local"`` runs jobs as local processes and ``cluster="debug"`` runs them in this process
(tests). Each job runs :func:`safe_run` on the pickled backend, so a crash in one run becomes a
``failed`` result and never stops the campaign.
"""

from __future__ import annotations

import os

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.executors.base import Executor, infra_failure, safe_run
from bomix.runs import RunResult, RunSpec


def _job(backend: Backend, spec: RunSpec, watch_pid: int | None = None) -> RunResult:
    """One run in a submitit job; a local job (``watch_pid``: the campaign's pid) dies with the campaign."""
    if watch_pid is not None:
        from bomix.executors.parent_watch import die_with_parent

        die_with_parent(watch_pid, pdeathsig=False)  # a grandchild (submitit's controller between): watchdog
    return safe_run(backend, spec)


class SubmititExecutor(Executor):
    """Runs specs as submitit jobs.

    Args:
        folder: submitit's log and pickle folder (``%j`` is replaced by the job id).
        cluster: ``None`` (auto), ``slurm``, ``local`` or ``debug``.
        capacity: runs in flight at once (also the job array's parallelism).
        poll: seconds between status checks.
        timeout_min / gpus_per_node / cpus_per_task / mem_gb / partition: common job parameters.
        slurm: extra ``slurm_*`` parameters (e.g. ``{"account": "x", "qos": "y"}``).
        local: extra parameters for the local executor (e.g. ``{"visible_gpus": [0, 1]}``).
        max_retries: times the campaign retries a run whose job was killed, preempted or lost
            (each retry a new, charged run).
    """

    name = "slurm"

    def __init__(self, folder: str = "submitit_logs/%j", cluster: str | None = None, capacity: int = 4,
                 poll: float = 5.0, timeout_min: int = 120, gpus_per_node: int = 1, cpus_per_task: int = 8,
                 mem_gb: float | None = None, partition: str | None = None,
                 slurm: Mapping[str, Any] | None = None, local: Mapping[str, Any] | None = None,
                 max_retries: int = 1):
        if capacity < 1:
            raise BomixError(f"executor.capacity must be >= 1, got {capacity}")
        if int(max_retries) < 0:
            raise BomixError(f"executor.max_retries must be >= 0, got {max_retries}")
        self.max_retries = int(max_retries)
        if cluster not in (None, "slurm", "local", "debug"):
            raise BomixError(f"executor.cluster={cluster!r}: use null, slurm, local or debug")
        self.folder, self.cluster, self.capacity, self.poll = str(folder), cluster, int(capacity), float(poll)
        self.params: dict[str, Any] = {"timeout_min": int(timeout_min), "cpus_per_task": int(cpus_per_task)}
        if gpus_per_node:
            self.params["gpus_per_node"] = int(gpus_per_node)
        if mem_gb:
            self.params["mem_gb"] = mem_gb
        if partition:
            self.params["slurm_partition"] = partition
        self.params.update({f"slurm_{k}": v for k, v in (slurm or {}).items()})
        self.params.update({f"local_{k}": v for k, v in (local or {}).items()})
        self._queued: list[RunSpec] = []
        self._jobs: dict[Any, RunSpec] = {}

    def start(self, backend: Backend) -> None:
        try:
            import submitit
        except ImportError:
            raise BomixError("executor=slurm needs submitit: pip install 'bomix[slurm]'") from None
        self.backend = backend
        Path(self.folder.split("%")[0] or ".").mkdir(parents=True, exist_ok=True)
        ex = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        params = {"slurm_array_parallelism": self.capacity, **self.params}
        if ex.cluster != "slurm":
            params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
        if ex.cluster != "local":
            params = {k: v for k, v in params.items() if not k.startswith("local_")}
        if ex.cluster == "debug":
            params = {}
        ex.update_parameters(**params)
        self._ex = ex

    def submit(self, spec: RunSpec) -> None:
        self._queued.append(spec)

    def _flush(self) -> None:
        """Submit the queued specs as one job array."""
        if not self._queued:
            return
        specs, self._queued = self._queued, []
        watch = os.getpid() if self._ex.cluster == "local" else None  # a Slurm job outlives a lost login node
        jobs = self._ex.map_array(_job, [self.backend] * len(specs), specs, [watch] * len(specs))
        self._jobs.update(zip(jobs, specs))

    def wait(self) -> list[RunResult]:
        self._flush()
        if not self._jobs:
            return []
        while True:
            done = [j for j in self._jobs if j.done()]
            if done:
                break
            time.sleep(self.poll)
        from submitit.core.utils import FailedJobError, UncompletedJobError

        out = []
        for job in done:
            spec = self._jobs.pop(job)
            try:
                out.append(job.result())
            except UncompletedJobError as exc:  # killed, preempted, timed out, node lost: infrastructure
                msg = str(exc).strip().splitlines()
                out.append(infra_failure(spec, f"job {job.job_id} did not complete: {msg[0] if msg else exc}"[:300]))
            except FailedJobError as exc:  # the job's Python raised outside safe_run (e.g. unpickling)
                msg = str(exc).strip().splitlines()
                out.append(RunResult(spec, "failed", error=f"job {job.job_id} failed: {msg[-1] if msg else exc}"))
        return out

    @property
    def n_running(self) -> int:
        return len(self._jobs) + len(self._queued)

    def shutdown(self) -> None:
        for job in list(self._jobs):
            try:
                job.cancel(check=False)
            except Exception:  # noqa: BLE001 - best effort
                pass
        self._jobs.clear()
        self._queued.clear()
