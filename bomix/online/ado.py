"""ADO (Jiang et al. 2024, "Adaptive Data Optimization"): per-domain scaling laws fitted online.

Per domain ``k``, on its smoothed train loss against its own tokens seen ``n``::

    L_k(n) = e^E + e^A n^(-alpha)                 (refit every ``refit_every`` steps from ``start``)
    rho_k  proportional to  max(alpha, 0.05) (L_k(n_k) - e^E) / n_k * prior_k   (the law's slope x prior)
    p      = mix * mean(past p) + (1 - mix) * rho,  floored at ``floor``, renormalised

The prior is the initial mixture (token proportions). Before the first fit the weights stay there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from bomix.errors import BomixError
from bomix.online.base import Controller, Signals, renormalise


def fit_power_law(n: np.ndarray, loss: np.ndarray, start: Sequence[float] | None = None,
                  max_points: int = 200) -> tuple[float, float, float]:
    """``(E, A, alpha)`` of ``loss = e^E + e^A n^(-alpha)`` by least squares on log loss.

    Multi-start trust-region fits with the exact Jacobian (plus ``start``, e.g. the previous fit);
    at most ``max_points`` points, evenly spaced in log ``n``.

    Raises:
        BomixError: fewer than 4 finite points, or every start failed.
    """
    n, loss = np.asarray(n, dtype=float), np.asarray(loss, dtype=float)
    ok = np.isfinite(n) & np.isfinite(loss) & (n > 0) & (loss > 0)
    n, loss = n[ok], loss[ok]
    if n.size < 4:
        raise BomixError("ado: a power-law fit needs at least 4 points")
    if n.size > max_points:
        idx = np.unique(np.searchsorted(n, np.geomspace(n[0], n[-1], max_points)).clip(0, n.size - 1))
        n, loss = n[idx], loss[idx]
    s = float(n[0])
    lx = np.log(n / s)
    logl = np.log(loss)

    def resid(p):
        E, A, a = p
        return np.logaddexp(E, A - a * lx) - logl

    def jac(p):
        E, A, a = p
        sig = 1.0 / (1.0 + np.exp(A - a * lx - E))  # e^E / (e^E + e^(A - a lx))
        return np.stack([sig, 1.0 - sig, -(1.0 - sig) * lx], axis=1)

    lo = float(loss.min())
    starts = [[np.log(f * lo), np.log(max(float(loss[0]) - f * lo, 1e-6)), a0]
              for a0 in (0.2, 0.6) for f in (0.5, 0.9)]
    if start is not None:  # a refit: the previous law and one fresh start
        E, A, a = start
        starts = [[E, A - a * np.log(s), a], starts[-1]]
    best = None
    for x0 in starts:
        x0 = np.clip(x0, [-19.9, -29.9, 2e-3], [9.9, 29.9, 2.99])
        try:
            r = least_squares(resid, x0, jac=jac, bounds=([-20, -30, 1e-3], [10, 30, 3.0]),
                              xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=500)
        except (ValueError, np.linalg.LinAlgError):  # a degenerate start: try the next one
            continue
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        raise BomixError("ado: the power-law fit failed from every start")
    E, A, a = best.x
    return float(E), float(A + a * np.log(s)), float(a)


class ADOController(Controller):
    """Slope-of-the-law sampling (see module docstring)."""

    kind = "ado"

    @dataclass(frozen=True)
    class Params:
        """Published defaults: refit every 1000 steps from step 1000, mix 0.9, floor 1e-2."""

        refit_every: int = 1000
        start: int = 1000
        mix: float = 0.9
        floor: float = 1e-2
        smoothing: float = 0.9      # EMA of each domain's train loss
        record_every: int = 10      # fit points kept every this many steps

    def check_params(self, p) -> None:
        if p.refit_every < 1 or p.start < 1 or not 0 <= p.mix < 1 or not 0 <= p.floor < 1.0 / self.k:
            raise BomixError("ado: refit_every, start >= 1; 0 <= mix < 1; 0 <= floor < 1/K")
        if not 0 <= p.smoothing < 1 or p.record_every < 1:
            raise BomixError("ado: 0 <= smoothing < 1 and record_every >= 1")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.n = np.zeros(self.k)
        self.ema = np.full(self.k, np.nan)
        self.points: list[list[list[float]]] = [[] for _ in range(self.k)]
        self.laws: list[list[float] | None] = [None] * self.k
        self.sum_p = np.zeros(self.k)
        self.n_p = 0
        self.fallbacks = 0

    def update(self, step: int, s: Signals) -> None:
        loss = np.asarray(s.train_losses, dtype=float)
        cnt = np.asarray(s.token_counts, dtype=float)
        seen = np.isfinite(loss) & (cnt > 0)
        self.n += cnt
        b = self.p.smoothing
        self.ema = np.where(seen, np.where(np.isfinite(self.ema), b * self.ema + (1 - b) * loss, loss), self.ema)
        if (step + 1) % self.p.record_every == 0:
            for k in np.flatnonzero(np.isfinite(self.ema) & (self.n > 0)):
                self.points[k].append([float(self.n[k]), float(self.ema[k])])
        done = step + 1
        if done >= self.p.start and (done - self.p.start) % self.p.refit_every == 0:
            self.refit()
        if self.is_update(step) and any(law is not None for law in self.laws):
            rho = self.preference()
            self.sum_p += rho if self.n_p == 0 else self.w
            self.n_p += 1
            pbar = self.sum_p / self.n_p
            self.w = renormalise(self.p.mix * pbar + (1 - self.p.mix) * rho, self.p.floor)
            self.n_updates += 1

    def refit(self) -> None:
        for k in range(self.k):
            pts = np.asarray(self.points[k], dtype=float).reshape(-1, 2)
            try:
                self.laws[k] = list(fit_power_law(pts[:, 0], pts[:, 1], start=self.laws[k]))
            except BomixError:  # too few points for this domain yet: keep its previous law
                self.fallbacks += 1

    def preference(self) -> np.ndarray:
        """``(K,)`` rho: the law's slope at the tokens seen times the prior (domains without a law: prior)."""
        have = np.array([law is not None for law in self.laws]) & (self.n > 0)
        if not have.any():
            return self.initial.copy()
        P = np.array([law if law is not None else [0.0, 0.0, 1.0] for law in self.laws])
        n = np.maximum(self.n, 1.0)
        rho = np.maximum(P[:, 2], 0.05) * np.exp(P[:, 1] - (P[:, 2] + 1.0) * np.log(n)) * self.initial
        if rho[have].sum() <= 0 or not np.all(np.isfinite(rho[have])):
            return self.initial.copy()
        rho = np.where(have, rho / rho[have].sum(), 0.0)
        if not have.all():  # domains without a law keep their prior share
            rho = np.where(have, rho * (1 - self.initial[~have].sum()), self.initial)
        return rho / rho.sum()

    def output(self) -> dict:
        out = super().output()
        out["laws"] = self.laws
        out["fit_fallbacks"] = self.fallbacks
        return out

    def _state(self) -> dict:
        return {"n": self.n.tolist(), "ema": [None if not np.isfinite(x) else float(x) for x in self.ema],
                "points": self.points, "laws": self.laws, "sum_p": self.sum_p.tolist(), "n_p": self.n_p,
                "fallbacks": self.fallbacks}

    def _load_state(self, st: Mapping[str, Any]) -> None:
        self.n = np.asarray(st["n"], dtype=float)
        self.ema = np.array([np.nan if x is None else x for x in st["ema"]], dtype=float)
        self.points = [[list(p) for p in d] for d in st["points"]]
        self.laws = [None if law is None else list(law) for law in st["laws"]]
        self.sum_p, self.n_p = np.asarray(st["sum_p"], dtype=float), int(st["n_p"])
        self.fallbacks = int(st["fallbacks"])
