"""DoGE (Fan et al. 2023): domain weights from gradient alignment with a validation gradient.

Per update (every step by default), with ``g_i`` domain i's batch gradient and ``g_val`` the
gradient of one validation batch::

    score_i = clip(lr <g_i, g_val> / (mean_j ||g_j|| + 1e-6), 0, clip * lr)
    log w  += score / mu;   w = softmax(log w)

The step itself uses ``sum_i w_i g_i`` (``apply=reweight`` with the ``domain`` normaliser); the
recommendation is the average ``w``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import Controller, Signals, Wants, softmax
from bomix.online.normalisers import NORMALISERS

GRADS = Wants(grads=True)


class DoGEController(Controller):
    """Gradient-alignment reweighting (see module docstring)."""

    kind = "doge"

    @dataclass(frozen=True)
    class Params:
        """Published defaults: mu 0.01, scores clipped to [0, 5 lr]; ``lr`` when the host gives none."""

        mu: float = 0.01
        clip: float = 5.0
        lr: float = 3e-3
        normaliser: str = "domain"

    def check_params(self, p) -> None:
        if p.mu <= 0 or p.clip <= 0 or p.lr <= 0 or p.normaliser not in NORMALISERS:
            raise BomixError("doge: mu, clip and lr must be > 0; normaliser domain|token")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.logw = np.log(np.maximum(self.w, 1e-300))
        self.last_score = np.zeros(self.k)

    def wants(self, step: int) -> Wants:
        return GRADS if self.is_update(step) else super().wants(step)

    def scores(self, dots: np.ndarray, norms: np.ndarray, lr: float) -> np.ndarray:
        """``(K,)`` clipped alignment scores (absent domains: NaN dots -> 0)."""
        dots = np.where(np.isfinite(dots), dots, 0.0)
        scale = float(np.nanmean(np.where(np.asarray(norms) > 0, norms, np.nan))) if np.any(np.asarray(norms) > 0) else 0.0
        return np.clip(lr * dots / (scale + 1e-6), 0.0, self.p.clip * lr)

    def update(self, step: int, s: Signals) -> None:
        if not self.is_update(step):
            return
        if s.grad_dots is None or s.grad_norms is None:
            raise BomixError("doge: the host gave no per-domain gradient dots and norms")
        lr = float(s.lr) if s.lr is not None else self.p.lr
        self.last_score = self.scores(np.asarray(s.grad_dots, dtype=float), np.asarray(s.grad_norms, dtype=float), lr)
        self.logw = self.logw + self.last_score / self.p.mu
        self.logw -= self.logw.max()
        self.w = softmax(self.logw)
        self.n_updates += 1

    def _state(self) -> dict:
        return {"logw": self.logw.tolist(), "last_score": self.last_score.tolist()}

    def _load_state(self, st: Mapping[str, Any]) -> None:
        self.logw = np.asarray(st["logw"], dtype=float)
        self.last_score = np.asarray(st["last_score"], dtype=float)
