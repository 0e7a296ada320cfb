"""Skill-It (Chen et al. 2023), online: every ``every`` steps

    w  proportional to  exp(eta * A @ (v * sum of the last ``window`` validation losses))

``A[i, j]``: how much training on domain i lowers domain j's loss (the skill graph; from short
one-hot runs made by the policy, or a file). Without a graph, ``A = I`` (no cross-skill transfer).
``v (K,)``: the weight of each domain's loss in the target (Skill-It's target skills; default all 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import Controller, Signals, Wants, softmax

VAL = Wants(val=True)


class SkillItController(Controller):
    """Online skill-graph mixing (see module docstring)."""

    kind = "skillit"

    @dataclass(frozen=True)
    class Params:
        """Published defaults: eta 0.2 (0.2..0.8 in the paper), a window of 3 evaluations."""

        eta: float = 0.2
        window: int = 3
        graph: list | None = field(default=None)
        target: list | None = field(default=None)

    def check_params(self, p) -> None:
        if p.eta <= 0 or p.window < 1:
            raise BomixError("skillit: eta must be > 0 and window >= 1")
        if p.graph is not None:
            A = np.asarray(p.graph, dtype=float)
            if A.shape != (self.k, self.k) or not np.all(np.isfinite(A)):
                raise BomixError(f"skillit: graph must be a finite {self.k}x{self.k} matrix")
        if p.target is not None:
            v = np.asarray(p.target, dtype=float)
            if v.shape != (self.k,) or np.any(v < 0) or not np.all(np.isfinite(v)):
                raise BomixError(f"skillit: target must be {self.k} non-negative weights")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.A = np.eye(self.k) if self.p.graph is None else np.asarray(self.p.graph, dtype=float)
        self.v = np.ones(self.k) if self.p.target is None else np.asarray(self.p.target, dtype=float)
        self.recent: list[list[float]] = []

    def wants(self, step: int) -> Wants:
        return VAL if self.is_update(step) else super().wants(step)

    def update(self, step: int, s: Signals) -> None:
        if not self.is_update(step):
            return
        if s.val_losses is None:
            raise BomixError("skillit: the host gave no validation losses")
        self.recent = (self.recent + [np.asarray(s.val_losses, dtype=float).tolist()])[-self.p.window:]
        self.w = softmax(self.p.eta * self.A @ (self.v * np.sum(self.recent, axis=0)))
        self.n_updates += 1

    def _state(self) -> dict:
        return {"recent": self.recent}

    def _load_state(self, st: Mapping[str, Any]) -> None:
        self.recent = [list(map(float, r)) for r in st["recent"]]
