"""Reference losses read from a stored curve (``controller.reference.source = curve``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bomix.errors import BomixError


class CurveReference:
    """Per-domain reference losses ``(K,)`` at a step, from ``{"steps": [n], "losses": [[K] x n]}``."""

    def __init__(self, ref: Mapping, k: int):
        self.steps = np.asarray(ref["steps"], dtype=float)
        self.losses = np.asarray(ref["losses"], dtype=float)
        if self.losses.ndim != 2 or self.losses.shape[1] != k or np.any(np.diff(self.steps) <= 0):
            raise BomixError(f"curve reference needs increasing steps and {k} losses per step")

    def at(self, step: float, final: bool = True) -> np.ndarray:
        if final:
            return self.losses[-1]
        return np.array([np.interp(step, self.steps, self.losses[:, i]) for i in range(self.losses.shape[1])])

    def final(self) -> np.ndarray:
        return self.losses[-1]
