"""Cost models. Everything the campaign and policies see is in *target-run equivalents*:
cost / cost(one full run at the target fidelity)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from bomix.errors import BomixError
from bomix.space import Fidelity, Space

#: budget tolerance (target-run equivalents): a run fits when ``cost <= left + BUDGET_EPS``; the one
#: constant for the ledger, the store's budget check and every policy's "does it fit" test
BUDGET_EPS = 1e-9


class CostModel(ABC):
    """Predicts the cost of training ``scale`` from ``start`` to ``steps`` steps."""

    def __init__(self, space: Space):
        self.space = space
        self._target = self.raw(space.target.scale, space.target.steps, 0)
        if not self._target > 0:
            raise BomixError("the target run must have a positive cost")

    @abstractmethod
    def raw(self, scale: str, steps: int, start: int = 0) -> float:
        """Cost in native units (FLOPs, seconds, ...)."""

    def __call__(self, scale: str, steps: int, start: int = 0) -> float:
        """Cost in target-run equivalents."""
        return self.raw(scale, steps, start) / self._target

    def of(self, fid: Fidelity, start: int = 0) -> float:
        return self(fid.scale, fid.steps, start)

    @property
    def target_raw(self) -> float:
        return self._target


class FlopsCost(CostModel):
    """``6 * N * tokens`` FLOPs with ``tokens = steps * tokens_per_step``."""

    def __init__(self, space: Space, tokens_per_step: float | None = None):
        self.tokens_per_step = float(tokens_per_step or space.tokens_per_step or 1.0)
        super().__init__(space)

    def raw(self, scale: str, steps: int, start: int = 0) -> float:
        n = self.space.scale(scale).params
        return 6.0 * n * max(steps - start, 0) * self.tokens_per_step


class TableCost(CostModel):
    """Linear in steps with a per-scale cost per step from a table (e.g. the MFMS FLOPs table)."""

    def __init__(self, space: Space, per_step: Mapping[str, float]):
        missing = [s for s in space.scale_names if s not in per_step]
        if missing:
            raise BomixError(f"cost table lacks scale(s) {missing}")
        self.per_step = {k: float(v) for k, v in per_step.items()}
        super().__init__(space)

    def raw(self, scale: str, steps: int, start: int = 0) -> float:
        self.space.scale(scale)
        return self.per_step[scale] * max(steps - start, 0)
