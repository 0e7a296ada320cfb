"""Runs each spec in this process, one at a time (simulators, tests)."""

from __future__ import annotations

from collections import deque

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.executors.base import Executor, safe_run
from bomix.runs import RunResult, RunSpec


class InlineExecutor(Executor):
    """Executes specs in submission order inside ``wait``."""

    name = "inline"

    def __init__(self, capacity: int = 1):
        self.capacity = int(capacity)
        if self.capacity < 1:
            raise BomixError(f"executor.capacity must be >= 1, got {capacity!r}")
        self._queue: deque[RunSpec] = deque()

    def start(self, backend: Backend) -> None:
        self.backend = backend

    def submit(self, spec: RunSpec) -> None:
        self._queue.append(spec)

    def wait(self) -> list[RunResult]:
        return [safe_run(self.backend, self._queue.popleft())] if self._queue else []

    @property
    def n_running(self) -> int:
        return len(self._queue)
