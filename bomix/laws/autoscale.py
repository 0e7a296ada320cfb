"""AutoScale / DDO (Kang et al. 2025, arXiv 2407.20177).

Direct Data Optimisation: from one base run (uniform, ``n`` units of data per domain) and, per domain,
runs with that domain's data scaled (e.g. ``x = 1/3`` and ``x = 3`` times ``n``), fit per domain

    y(x) = (x + a_i) ** (-b_i) + c_i

on the normalised loss (the run's loss divided by the base run's loss; ``x`` = domain ``i``'s data
relative to the base). The total is modelled additively, so the optimal data amounts solve

    min_n sum_i (n_i + a_i) ** (-b_i)   s.t.  sum_i n_i = K,  n_i >= K * lower_i,

(weights ``w = n / K``). AutoScale extrapolates optimal per-domain token counts to a larger budget:
with optima ``N1`` at budget ``B1`` and ``N2`` at ``B2``, the optimum at ``B3 = B2**2 / B1`` is
``N3 = N2**2 / N1`` element-wise (:meth:`AutoScale.extrapolate`).

Table columns used by :meth:`AutoScale.fit`: ``run_id``, ``step`` (last checkpoint), ``w:<domain>``
and the objective metric ``m:<metric>``; ``x_i = K * w_i`` (relative to the uniform base at the same
steps; see :class:`bomix.policies.laws.AutoScalePolicy` for the design mapping).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from bomix.errors import BomixError
from bomix.laws._fit import (
    bounds_or_default, final_rows, huber, metric_values, minimize_on_simplex, multistart_lbfgs,
    simplex_starts, table_domains, vec, weights_of,
)
from bomix.mixture import Mixture


class AutoScale:
    """Per-domain DDO laws ``(x + a_i)^(-b_i) + c_i``.

    Args:
        a, b, c: ``(K,)`` parameters (a > -min x, b > 0).
        domains: optional domain names.
    """

    def __init__(self, a, b, c, domains: Sequence[str] | None = None):
        K = np.asarray(a, dtype=float).reshape(-1).size
        self.a, self.b, self.c = vec(a, K, "a"), vec(b, K, "b"), vec(c, K, "c")
        if np.any(self.a <= 0) or np.any(self.b <= 0):
            raise BomixError("AutoScale needs a > 0 and b > 0")
        self.domains = None if domains is None else tuple(domains)

    @classmethod
    def from_params(cls, a, b, c, domains=None) -> "AutoScale":
        return cls(a, b, c, domains)

    @property
    def n_domains(self) -> int:
        return int(self.a.size)

    def predict(self, mixtures) -> np.ndarray:
        """``(n, K)`` mixtures -> ``(n, K)`` per-domain terms ``(K w_i + a_i)^(-b_i) + c_i``."""
        from bomix.laws._fit import as_weights

        x = self.n_domains * as_weights(mixtures, self.n_domains)
        return (x + self.a) ** (-self.b) + self.c

    def predict_total(self, mixtures) -> np.ndarray:
        """``(n,)`` the additive total ``sum_i (K w_i + a_i)^(-b_i)`` (constants dropped)."""
        return (self.predict(mixtures) - self.c).sum(-1)

    def optimum(self, lower=None, upper=None, n_starts: int = 8) -> Mixture:
        """Minimiser of ``sum_i (n_i + a_i)^(-b_i)`` with ``n = K w`` on the (bounded) simplex."""
        K = self.n_domains
        lo, up = bounds_or_default(K, lower, upper)

        def f(w):
            return float(np.sum((K * w + self.a) ** (-self.b)))

        def g(w):
            return -self.b * K * (K * w + self.a) ** (-self.b - 1)

        return Mixture(minimize_on_simplex(f, lo, up, simplex_starts(K, lo, up, n_starts), grad=g), self.domains)

    @staticmethod
    def extrapolate(n1, n2) -> np.ndarray:
        """AutoScale: optimal per-domain data ``N3 = N2**2 / N1`` at budget ``B2**2 / B1`` (``(K,)`` arrays)."""
        n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
        if n1.shape != n2.shape or np.any(n1 <= 0) or np.any(n2 < 0):
            raise BomixError("extrapolate needs two (K,) arrays of data amounts with N1 > 0")
        return n2**2 / n1

    @classmethod
    def fit(cls, table: pd.DataFrame, metric: str, step: int | None = None, scale: str | None = None,
            delta: float = 1e-3, n_starts: int = 256, seed: int = 0) -> "AutoScale":
        """Fit each domain's law on the runs that perturb it (and the base run).

        A run perturbs domain ``i`` when every other domain has equal weight and ``w_i`` differs; the
        base run is the one closest to uniform; the loss is normalised by the base run's loss.
        """
        fin = final_rows(table, step=step, scale=scale)
        domains = table_domains(table)
        K = len(domains)
        W = weights_of(fin, domains)
        y = metric_values(fin, [metric])[:, 0]
        base = int(np.argmin(np.abs(W - 1.0 / K).sum(1)))
        if np.abs(W[base] - 1.0 / K).max() > 1e-3:
            raise BomixError("AutoScale needs a base run on the uniform mixture")
        yn = y / y[base]
        rng = np.random.default_rng(seed)
        P = []
        for i in range(K):
            others = np.delete(W, i, axis=1)
            pert = np.ptp(others, axis=1) < 1e-6
            x = K * W[pert, i]
            yi = yn[pert]
            if np.unique(np.round(x, 6)).size < 3:
                raise BomixError(f"AutoScale needs the base run and >= 2 perturbations of domain {domains[i]!r}")
            xt = torch.as_tensor(x, dtype=torch.float64)
            yt = torch.as_tensor(yi, dtype=torch.float64)

            def loss(p, xt=xt, yt=yt):  # p = [log a, log b, c]
                pred = torch.exp(-torch.exp(p[:, 1:2]) * torch.log(xt + torch.exp(p[:, :1]))) + p[:, 2:3]
                return huber(pred - yt, delta).sum(-1)

            s = np.column_stack([rng.uniform(-4, 2, n_starts), rng.uniform(-4, 1, n_starts),
                                 rng.uniform(-1, 1, n_starts)])
            p, _ = multistart_lbfgs(loss, s, [(-12, 6), (-8, 3), (-10, 10)])
            P.append(p)
        P = np.array(P)
        law = cls(np.exp(P[:, 0]), np.exp(P[:, 1]), P[:, 2], domains)
        law.metric = metric
        return law

    def __repr__(self) -> str:
        return f"AutoScale(a={self.a.round(4).tolist()}, b={self.b.round(4).tolist()})"
