"""Local worker processes: CPU workers, or one GPU each (``CUDA_VISIBLE_DEVICES``)."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.executors.base import Executor, safe_run
from bomix.runs import RunResult, RunSpec

_BACKEND: Backend | None = None


def _init_worker(backend_blob: bytes, gpu_queue, threads: int | None) -> None:
    """Pin this worker to one GPU (if any), limit threads, and unpickle the backend once."""
    global _BACKEND
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
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
    """A pool of ``workers`` spawned processes; runs finish in any order.

    Args:
        workers: number of processes (default: number of ``gpus``, else 2).
        gpus: GPU ids, one worker per id (each sees only its GPU); ``None`` = CPU workers.
        threads: torch/OMP threads per worker (default: cores // workers).
    """

    name = "process"

    def __init__(self, workers: int | None = None, gpus: Sequence[int] | None = None, threads: int | None = None):
        self.gpus = list(gpus) if gpus else None
        self.capacity = int(workers or (len(self.gpus) if self.gpus else 2))
        if self.capacity < 1:
            raise BomixError("executor.workers must be >= 1")
        if self.gpus and len(self.gpus) < self.capacity:
            raise BomixError(f"executor has {self.capacity} workers but only {len(self.gpus)} GPUs: one GPU each")
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.capacity)
        self._futures: dict[Future, RunSpec] = {}
        self._pool: ProcessPoolExecutor | None = None

    def start(self, backend: Backend) -> None:
        try:
            self._blob = pickle.dumps(backend)
        except Exception as exc:  # noqa: BLE001
            raise BomixError(f"backend {backend.name} cannot be sent to worker processes ({exc}): use executor=inline") from None
        self._new_pool()

    def _new_pool(self) -> None:
        ctx = mp.get_context("spawn")
        queue = None
        if self.gpus:
            queue = ctx.Queue()
            for g in self.gpus[: self.capacity]:
                queue.put(g)
        self._pool = ProcessPoolExecutor(self.capacity, mp_context=ctx, initializer=_init_worker,
                                         initargs=(self._blob, queue, self.threads))

    def submit(self, spec: RunSpec) -> None:
        assert self._pool is not None, "start() first"
        self._futures[self._pool.submit(_run, spec)] = spec

    def wait(self) -> list[RunResult]:
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        out, broken = [], False
        for fut in done:
            spec = self._futures.pop(fut)
            try:
                out.append(fut.result())
            except BrokenProcessPool:
                broken = True
                out.append(RunResult(spec, "failed", error="worker process died (killed or out of memory)"))
            except Exception as exc:  # noqa: BLE001
                out.append(RunResult(spec, "failed", error=f"{type(exc).__name__}: {exc}"))
        if broken:  # every other future of a broken pool fails too: resubmit them to a fresh pool
            survivors = list(self._futures.values())
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._new_pool()
            for spec in survivors:
                self.submit(spec)
        return out

    @property
    def n_running(self) -> int:
        return len(self._futures)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._futures.clear()
