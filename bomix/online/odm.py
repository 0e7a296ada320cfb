"""ODM (Albalak et al. 2023, "Efficient Online Data Mixing"): an EXP3 bandit over domains.

Per update ``t = 1, 2, ...`` (after the warm-up)::

    eps_t = min(1/K, sqrt(ln K / (K t)))
    pi_t  = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t

Reward = the domain's train loss on the batch. ``bandit`` mode (the paper): each batch comes from
one domain drawn from ``pi``, and only that domain's reward moves, importance weighted:
``R_i <- alpha R_i + (1 - alpha) l_i / pi_i``. ``mixed`` mode: batches are drawn from ``pi``
and every present domain's reward moves, unweighted: ``R_i <- alpha R_i + (1 - alpha) l_i``.
During the warm-up the batches come from the initial mixture (start proportional) while the
rewards already accumulate. Known bias: it favours high-loss domains even when the loss is
irreducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import Controller, Signals, softmax

MODES = ("bandit", "mixed")


class ODMController(Controller):
    """EXP3 online data mixing (see module docstring)."""

    kind = "odm"

    @dataclass(frozen=True)
    class Params:
        """Published defaults: alpha 0.9 (0.5 at 1B), 2000 warm-up steps, bandit mode."""

        mode: str = "bandit"
        alpha: float = 0.9
        warmup: int = 2000
        reward_scale: float = 1.0   # rewards are l / reward_scale (the code divides losses by 10)

    def check_params(self, p) -> None:
        if p.mode not in MODES:
            raise BomixError(f"odm: mode must be one of {MODES}, got {p.mode!r}")
        if not 0.0 <= p.alpha < 1.0:
            raise BomixError(f"odm: alpha must be in [0, 1), got {p.alpha}")
        if p.warmup < 0 or p.reward_scale <= 0:
            raise BomixError("odm: warmup must be >= 0 and reward_scale > 0")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.R = np.zeros(self.k)
        self.t = 0  # updates after the warm-up
        self.pi = self.initial.copy() if self.p.warmup > 0 else self._pi(1)
        self._drawn: tuple[int, np.ndarray | None] = (-1, None)

    def eps(self, t: int) -> float:
        """Exploration rate of update ``t >= 1`` (``eps_0`` = 1/K)."""
        if t <= 0:
            return 1.0 / self.k
        return min(1.0 / self.k, math.sqrt(math.log(self.k) / (self.k * t)))

    def _pi(self, t: int) -> np.ndarray:
        e = self.eps(t)
        return (1.0 - self.k * e) * softmax(self.eps(t - 1) * self.R) + e

    # ----- the protocol ----------------------------------------------------------------------
    @property
    def w(self) -> np.ndarray:  # the method's mixture is pi
        return self.pi

    @w.setter
    def w(self, value: np.ndarray) -> None:
        self.pi = np.asarray(value, dtype=float)

    def sampling(self, step: int) -> np.ndarray:
        if self.p.mode == "mixed" or self.apply == "reweight" or step < self.p.warmup:
            return super().sampling(step)
        if self._drawn[0] != step:  # one draw per step, however often the host asks
            u = self.uniform(step)
            j = min(int(np.searchsorted(np.cumsum(self.pi), u, side="right")), self.k - 1)
            out = np.zeros(self.k)
            out[j] = 1.0
            self._drawn = (step, out)
        return self._drawn[1]

    def update(self, step: int, signals: Signals) -> None:
        loss = np.asarray(signals.train_losses, dtype=float) / self.p.reward_scale
        seen = np.isfinite(loss) & (np.asarray(signals.token_counts) > 0)
        a = self.p.alpha
        if self.p.mode == "bandit" and step >= self.p.warmup:
            arm = np.flatnonzero(self.sampling(step) > 0)  # the arm drawn at this step
            prob = self.pi
            for i in arm:
                if seen[i]:
                    self.R[i] = a * self.R[i] + (1 - a) * loss[i] / prob[i]
        else:
            self.R[seen] = a * self.R[seen] + (1 - a) * loss[seen]
        if not self.is_update(step):
            return
        if step + 1 >= self.p.warmup:
            self.t += 1
            self.pi = self._pi(self.t)
            self.n_updates += 1

    def _state(self) -> dict:
        return {"R": self.R.tolist(), "t": self.t}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.R = np.asarray(state["R"], dtype=float)
        self.t = int(state["t"])
