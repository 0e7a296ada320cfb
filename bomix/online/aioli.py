"""Aioli (Chen et al. 2024): mixing weights from an interaction matrix probed during training.

Training is split into rounds of ``update_steps``. Round offset 0 is a normal step followed by a
validation pass (the baseline). Then the probe: for each of ``lp_rounds`` random permutations,
for each domain ``j`` in it, ``lp_steps`` steps on the smoothed one-hot mixture (``w_j =
one_hot_factor``, the rest shared equally), each segment followed by a validation pass. The
segment's drop of every domain's validation loss is a linear function of its mixture::

    drop (segments x K)  =  P (segments x K)  @  A^T          ->  A = lstsq(P, drop)^T

``A[i, j]``: how much domain j's data lowers domain i's loss. A is shifted non-negative and
normalised, smoothed by an EMA, and the weights move by ``w <- w * exp(eta * column sums of A)``;
the rest of the round trains at ``w``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import NOTHING, Controller, Signals, Wants, renormalise

VAL = Wants(val=True)


def solve_interactions(P: np.ndarray, drops: np.ndarray) -> np.ndarray:
    """Least-squares ``A (K, K)`` with ``drops (n, K) = P (n, K) @ A.T``."""
    sol, *_ = np.linalg.lstsq(np.asarray(P, dtype=float), np.asarray(drops, dtype=float), rcond=None)
    return sol.T


def normalise_interactions(A: np.ndarray) -> np.ndarray:
    """Shift non-negative and scale to a maximum of 1 (an all-equal matrix becomes all zeros)."""
    A = A - min(float(A.min()), 0.0)
    m = float(A.max())
    return A / m if m > 0 else A


class AioliController(Controller):
    """Probe, solve, reweight (see module docstring)."""

    kind = "aioli"

    @dataclass(frozen=True)
    class Params:
        """The README settings: 4 probe rounds of 4 steps, eta 0.2, EMA 0.1, 250-step rounds, 0.625."""

        lp_rounds: int = 4
        lp_steps: int = 4
        eta: float = 0.2
        ema: float = 0.1
        update_steps: int = 250
        one_hot_factor: float = 0.625

    def check_params(self, p) -> None:
        if p.lp_rounds < 1 or p.lp_steps < 1 or p.eta <= 0 or not 0 <= p.ema < 1:
            raise BomixError("aioli: lp_rounds, lp_steps >= 1, eta > 0, 0 <= ema < 1")
        if not 1.0 / self.k < p.one_hot_factor <= 1.0:
            raise BomixError(f"aioli: one_hot_factor must be in (1/K, 1], got {p.one_hot_factor}")
        if p.update_steps < self.probe_len(p) + 2:
            raise BomixError(f"aioli: update_steps {p.update_steps} is shorter than the probe "
                             f"({self.probe_len(p)} steps) + 2: raise update_steps or lower lp_rounds/lp_steps")

    def probe_len(self, p=None) -> int:
        p = p or self.p
        return p.lp_rounds * self.k * p.lp_steps

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.A: np.ndarray | None = None
        self._last_val: np.ndarray | None = None
        self._P: list[list[float]] = []
        self._G: list[list[float]] = []

    # ----- where a step sits in its round ----------------------------------------------------
    def _offset(self, step: int) -> int:
        return step % self.p.update_steps

    def segment(self, step: int) -> tuple[int, int] | None:
        """``(probe round r, domain j)`` trained at ``step``, or None outside the probe."""
        o = self._offset(step) - 1
        if not 0 <= o < self.probe_len():
            return None
        seg = o // self.p.lp_steps
        r, pos = divmod(seg, self.k)
        perm = np.random.default_rng([self.seed, step // self.p.update_steps, r, 0xA101]).permutation(self.k)
        return r, int(perm[pos])

    def probe_mixture(self, j: int) -> np.ndarray:
        w = np.full(self.k, (1.0 - self.p.one_hot_factor) / (self.k - 1))
        w[j] = self.p.one_hot_factor
        return w

    def sampling(self, step: int) -> np.ndarray:
        seg = self.segment(step)
        if seg is None or self.apply == "reweight":
            return super().sampling(step)
        return self.probe_mixture(seg[1])

    def wants(self, step: int) -> Wants:
        o = self._offset(step)
        if o == 0 or (1 <= o <= self.probe_len() and (o - 1) % self.p.lp_steps == self.p.lp_steps - 1):
            return VAL
        return NOTHING

    def update(self, step: int, s: Signals) -> None:
        if not self.wants(step):
            return
        if s.val_losses is None:
            raise BomixError("aioli: the host gave no validation losses")
        val = np.asarray(s.val_losses, dtype=float)
        o = self._offset(step)
        if o > 0 and self._last_val is not None:
            seg = self.segment(step)
            self._P.append(self.project(self.probe_mixture(seg[1])).tolist())
            self._G.append((self._last_val - val).tolist())
        self._last_val = val
        if o == self.probe_len():
            if len(self._P) == self.probe_len() // self.p.lp_steps:
                A = normalise_interactions(solve_interactions(np.array(self._P), np.array(self._G)))
                self.A = A if self.A is None else self.p.ema * self.A + (1 - self.p.ema) * A
                self.w = renormalise(self.w * np.exp(self.p.eta * self.A.sum(axis=0)))
                self.n_updates += 1
            self._P, self._G = [], []

    def _state(self) -> dict:
        return {"A": None if self.A is None else self.A.tolist(),
                "last_val": None if self._last_val is None else self._last_val.tolist(), "P": self._P, "G": self._G}

    def _load_state(self, st: Mapping[str, Any]) -> None:
        self.A = None if st["A"] is None else np.asarray(st["A"], dtype=float)
        self._last_val = None if st["last_val"] is None else np.asarray(st["last_val"], dtype=float)
        self._P, self._G = [list(r) for r in st["P"]], [list(r) for r in st["G"]]
