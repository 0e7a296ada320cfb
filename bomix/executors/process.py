"""Local worker processes: CPU workers, or one GPU each (``CUDA_VISIBLE_DEVICES``).

Each worker slot is its own single-process pool, so a worker that dies (killed, out of memory)
breaks only the future of the run it was executing: that run comes back as an infrastructure
failure (the campaign retries it up to ``max_retries``), the slot's pool is rebuilt, and the other
runs carry on untouched. Workers die with this process, even when it is SIGKILLed
(:mod:`bomix.executors.parent_watch`); the resource tracker, whose pipe they hold, then exits too.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.executors.base import Executor, infra_failure, safe_run
from bomix.executors.parent_watch import die_with_parent, guard_args
from bomix.runs import RunResult, RunSpec

_BACKEND: Backend | None = None

#: Thread-count variables of the OpenMP / BLAS runtimes torch and numpy may load, set in each worker.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _init_worker(backend_blob: bytes, gpu: int | None, threads: int | None, parent_pid: int | None,
                 pdeathsig: bool) -> None:
    """Die with the parent, pin this worker to one GPU (if any), limit threads, unpickle the backend once."""
    global _BACKEND
    die_with_parent(parent_pid, pdeathsig=pdeathsig)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if threads:  # before torch is imported here (the backend's unpickling below imports it)
        for var in THREAD_ENV:
            os.environ[var] = str(threads)
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
    _BACKEND = pickle.loads(backend_blob)


def _run(spec: RunSpec) -> RunResult:
    assert _BACKEND is not None
    return safe_run(_BACKEND, spec)


class ProcessExecutor(Executor):
    """``workers`` spawned processes, one run each at a time; runs finish in any order.

    Args:
        workers: number of processes (default: number of ``gpus``, else 2).
        gpus: GPU ids, one worker per id (each sees only its GPU); ``None`` = CPU workers.
        threads: torch/OMP/MKL threads per worker, set in each worker before torch is imported there
            (default: 1 for CPU workers: on 2 shared cores two 1-thread trainer runs took 5x less wall
            time than two 2-thread runs, ``benchmarks/trainer_threads.py``; GPU workers: available
            cores // workers).
        max_retries: times the campaign retries a run whose worker died (each retry charged).
    """

    name = "process"

    def __init__(self, workers: int | None = None, gpus: Sequence[int] | None = None, threads: int | None = None,
                 max_retries: int = 1):
        self.gpus = list(gpus) if gpus else None
        self.capacity = int(workers) if workers is not None else (len(self.gpus) if self.gpus else 2)
        if self.capacity < 1:
            raise BomixError(f"executor.workers must be >= 1 (or null: one per GPU, else 2), got {workers!r}")
        if self.gpus and len(self.gpus) < self.capacity:
            raise BomixError(f"executor has {self.capacity} workers but only {len(self.gpus)} GPUs: one GPU each")
        if int(max_retries) < 0:
            raise BomixError(f"executor.max_retries must be >= 0, got {max_retries}")
        self.max_retries = int(max_retries)
        self.threads = int(threads) if threads else (max(1, available_cores() // self.capacity) if self.gpus else 1)
        self._slots: list[ProcessPoolExecutor | None] = []
        self._busy: dict[int, tuple[Future, RunSpec]] = {}  # slot -> its running future
        self._queue: list[RunSpec] = []
        self.n_rebuilt = 0

    def start(self, backend: Backend) -> None:
        try:
            self._blob = pickle.dumps(backend)
        except Exception as exc:  # noqa: BLE001 - any pickling error means "cannot ship it"
            raise BomixError(f"backend {backend.name} cannot be sent to worker processes ({exc}): use executor=inline") from None
        self._slots = [None] * self.capacity

    def _pool(self, slot: int) -> ProcessPoolExecutor:
        pool = self._slots[slot]
        if pool is None:
            gpu = self.gpus[slot] if self.gpus else None
            # the worker starts in the submit() that follows, from this thread (what guard_args expects)
            pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                       initargs=(self._blob, gpu, self.threads, *guard_args()))
            self._slots[slot] = pool
        return pool

    def _fill(self) -> None:
        for slot in range(self.capacity):
            if not self._queue:
                return
            if slot not in self._busy:
                spec = self._queue.pop(0)
                self._busy[slot] = (self._pool(slot).submit(_run, spec), spec)

    def submit(self, spec: RunSpec) -> None:
        assert self._slots, "start() first"
        self._queue.append(spec)
        self._fill()

    def wait(self) -> list[RunResult]:
        self._fill()
        if not self._busy:
            return []
        wait([f for f, _ in self._busy.values()], return_when=FIRST_COMPLETED)
        out = []
        for slot, (fut, spec) in list(self._busy.items()):
            if not fut.done():
                continue
            del self._busy[slot]
            try:
                out.append(fut.result())
            except BrokenProcessPool:  # this slot's worker died: only its run is lost; rebuild the slot
                out.append(infra_failure(spec, "worker process died (killed or out of memory)"))
                self._slots[slot].shutdown(wait=False, cancel_futures=True)
                self._slots[slot] = None
                self.n_rebuilt += 1
            except (pickle.PicklingError, AttributeError, TypeError) as exc:  # spec/result not transferable
                out.append(RunResult(spec, "failed", error=f"cannot exchange the run with its worker: "
                                                            f"{type(exc).__name__}: {exc}"))
        self._fill()
        return out

    @property
    def n_running(self) -> int:
        return len(self._busy) + len(self._queue)

    def shutdown(self) -> None:
        """Stop every worker; a run still executing is killed (a resumed campaign re-runs it)."""
        for slot, pool in enumerate(self._slots):
            if pool is not None:
                if slot in self._busy:  # abandoned: free its CPU/GPU now rather than when it ends
                    for proc in list(getattr(pool, "_processes", {}).values()):
                        proc.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                self._slots[slot] = None
        self._busy.clear()
        self._queue.clear()
