"""The additive scaling law of Shukor et al. 2025 (arXiv 2507.09404) over mixture, size and data.

    L(N, D, h) = E + 1 / (sum_i C_i * h_i ** g_i) + A / N**a + B / D**b

(fits keep ``0 < g_i <= 1``: diminishing returns of each domain, as in the paper's fits).

(``h`` the mixture, ``N`` parameters, ``D`` training tokens). The mixture term does not depend on
``N`` or ``D``: its optimum maximises ``sum_i C_i h_i^g_i`` on the simplex, at any scale.

Table columns used by :meth:`ShukorLaw.fit`: ``run_id``, ``params``, ``step`` (every checkpoint,
``D = step * tokens_per_step``), ``w:<domain>`` and the metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from bomix.errors import BomixError
from bomix.laws._fit import (
    as_weights, bounds_or_default, check_table, huber, metric_values, minimize_on_simplex, multistart_lbfgs,
    simplex_starts, table_domains, vec, weights_of,
)
from bomix.mixture import Mixture


class ShukorLaw:
    """Additive law with scalars ``E, A, a, B, b`` and per-domain ``C, g`` (``(K,)``)."""

    def __init__(self, E, A, a, B, b, C, g, domains: Sequence[str] | None = None):
        self.E, self.A, self.a, self.B, self.b = (float(x) for x in (E, A, a, B, b))
        K = np.asarray(C, dtype=float).reshape(-1).size
        self.C, self.g = vec(C, K, "C"), vec(g, K, "g")
        if np.any(self.C < 0) or self.C.sum() <= 0 or min(self.A, self.B) < 0:
            raise BomixError("ShukorLaw needs C >= 0 (not all 0), A >= 0, B >= 0")
        self.domains = None if domains is None else tuple(domains)

    @classmethod
    def from_params(cls, E, A, a, B, b, C, g, domains=None) -> "ShukorLaw":
        return cls(E, A, a, B, b, C, g, domains)

    @property
    def n_domains(self) -> int:
        return int(self.C.size)

    def mixture_term(self, mixtures) -> np.ndarray:
        """``(n, K)`` -> ``(n,)`` ``1 / sum_i C_i h_i^g_i``."""
        h = as_weights(mixtures, self.n_domains)
        with np.errstate(divide="ignore"):
            return 1.0 / np.sum(self.C * h**self.g, axis=-1)

    def predict(self, mixtures, N, D) -> np.ndarray:
        """``(n, K)`` mixtures, ``N``/``D`` scalar or ``(n,)`` -> ``(n,)`` losses."""
        N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
        return self.E + self.mixture_term(mixtures) + self.A / N**self.a + self.B / D**self.b

    def optimum(self, lower=None, upper=None, n_starts: int = 16) -> Mixture:
        """Minimiser of the mixture term on the (bounded) simplex (the same at every ``N``, ``D``)."""
        K = self.n_domains
        lo, up = bounds_or_default(K, lower, upper)

        def f(w):
            return -float(np.sum(self.C * np.clip(w, 0, None) ** self.g))

        return Mixture(minimize_on_simplex(f, lo, up, simplex_starts(K, lo, up, n_starts)), self.domains)

    @classmethod
    def fit(cls, table: pd.DataFrame, metric: str, tokens_per_step: float = 1.0, min_step: int | None = None,
            delta: float = 1e-3, n_starts: int = 512, seed: int = 0) -> "ShukorLaw":
        """Fit on every checkpoint by Huber on log-losses (log-sum-exp form), multi-start L-BFGS-B."""
        check_table(table, ("run_id", "step", "params"))
        domains = table_domains(table)
        K = len(domains)
        t = table if min_step is None else table[table["step"] >= min_step]
        H = weights_of(t, domains)
        y = metric_values(t, [metric])[:, 0]
        N = t["params"].to_numpy(dtype=float)
        D = t["step"].to_numpy(dtype=float) * float(tokens_per_step)
        ok = np.isfinite(y) & (y > 0)
        if ok.sum() < K + 5:
            raise BomixError(f"ShukorLaw needs >= {K + 5} checkpoints, got {ok.sum()}")
        mN, mD = float(np.median(N[ok])), float(np.median(D[ok]))
        lN = torch.as_tensor(np.log(N[ok] / mN), dtype=torch.float64)
        lD = torch.as_tensor(np.log(D[ok] / mD), dtype=torch.float64)
        lH = torch.as_tensor(np.log(np.clip(H[ok], 1e-300, None)), dtype=torch.float64)
        Hpos = torch.as_tensor(H[ok] > 0)
        ly = torch.as_tensor(np.log(y[ok]), dtype=torch.float64)
        n = ly.numel()

        # p = [log E, log A', a, log B', b, log C_1..K, g_1..K]
        def loss(p):
            lc, g = p[:, 5 : 5 + K], p[:, 5 + K :]
            mix = torch.where(Hpos, lc[:, None, :] + g[:, None, :] * lH, torch.full_like(lH, -1e3))
            terms = torch.stack([
                p[:, 0:1].expand(-1, n), -torch.logsumexp(mix, -1),
                p[:, 1:2] - p[:, 2:3] * lN, p[:, 3:4] - p[:, 4:5] * lD,
            ], 0)
            return huber(torch.logsumexp(terms, 0) - ly, delta).sum(-1)

        rng = np.random.default_rng(seed)
        lmin = float(np.log(np.min(y[ok])))
        s = np.column_stack([
            lmin + rng.uniform(-1.5, 0, n_starts), lmin + rng.uniform(-4, 0, n_starts), rng.uniform(0, 1, n_starts),
            lmin + rng.uniform(-4, 0, n_starts), rng.uniform(0, 1, n_starts),
            rng.uniform(-1, 4, (n_starts, K)), rng.uniform(0.05, 1, (n_starts, K)),
        ])
        bounds = [(-10, 5), (-20, 5), (0, 3), (-20, 5), (0, 3)] + [(-20, 20)] * K + [(1e-3, 1.0)] * K
        p, _ = multistart_lbfgs(loss, s, bounds)
        law = cls(np.exp(p[0]), np.exp(p[1]) * mN ** p[2], p[2], np.exp(p[3]) * mD ** p[4], p[4],
                  np.exp(p[5 : 5 + K]), p[5 + K :], domains)
        law.metric = metric
        return law

    def __repr__(self) -> str:
        return f"ShukorLaw(K={self.n_domains})"
