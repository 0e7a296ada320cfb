"""D-CPT law (Que et al. 2024, arXiv 2406.01375): domain-continual pre-training with two sources.

With a general and a domain source, ``r`` the domain share, ``N`` parameters and ``D`` training tokens:

    L(N, D, r) = E + A / N**a + B * r**h / D**b + C / (r + eps)**g

fitted separately for the domain loss and the general loss. The mixture chosen (usage 1 of the
paper) is the ``r`` that minimises the domain loss while the general loss stays within a relative
degradation ``cap`` of its value at the smallest allowed ``r``:
``(L_gen(r) - L_gen(r_min)) / L_gen(r_min) <= cap``.

Table columns used by :meth:`DCPTLaw.fit`: ``run_id``, ``params``, ``step`` (every checkpoint;
``D = step * tokens_per_step``), ``w:<domain>`` (``r`` = the domain column's weight) and the metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar

from bomix.errors import BomixError
from bomix.laws._fit import check_table, huber, metric_values, multistart_lbfgs, table_domains, weights_of

_NAMES = ("E", "A", "a", "B", "h", "b", "C", "g")


class DCPTLaw:
    """One D-CPT law ``L(N, D, r)`` (parameters ``E, A, a, B, h, b, C, g``; ``eps`` fixed)."""

    def __init__(self, E, A, a, B, h, b, C, g, eps: float = 1e-2, domain: str | None = None,
                 metric: str | None = None):
        vals = [float(v) for v in (E, A, a, B, h, b, C, g)]
        if not all(np.isfinite(vals)):
            raise BomixError("DCPTLaw parameters must be finite")
        self.E, self.A, self.a, self.B, self.h, self.b, self.C, self.g = vals
        if min(self.A, self.B, self.C) < 0 or eps <= 0:
            raise BomixError("DCPTLaw needs A, B, C >= 0 and eps > 0")
        self.eps, self.domain, self.metric = float(eps), domain, metric

    @classmethod
    def from_params(cls, **kw) -> "DCPTLaw":
        return cls(**kw)

    def params(self) -> dict[str, float]:
        return {n: getattr(self, n) for n in _NAMES}

    def predict(self, r, N, D) -> np.ndarray:
        """``r``, ``N``, ``D`` broadcastable arrays -> losses of the same shape."""
        r, N, D = (np.asarray(x, dtype=float) for x in (r, N, D))
        if np.any(r < 0) or np.any(r > 1) or np.any(N <= 0) or np.any(D <= 0):
            raise BomixError("DCPTLaw.predict needs r in [0, 1], N > 0, D > 0")
        return (self.E + self.A / N**self.a + self.B * r**self.h / D**self.b
                + self.C / (r + self.eps) ** self.g)

    @classmethod
    def fit(cls, table: pd.DataFrame, domain: str, metric: str, tokens_per_step: float = 1.0,
            min_step: int | None = None, eps: float = 1e-2, delta: float = 1e-3, n_starts: int = 512,
            seed: int = 0) -> "DCPTLaw":
        """Fit on every checkpoint (``step >= min_step``) by Huber on log-losses, multi-start L-BFGS-B."""
        check_table(table, ("run_id", "step", "params"))
        domains = table_domains(table)
        if domain not in domains:
            raise BomixError(f"unknown domain {domain!r}; the table has {domains}")
        t = table if min_step is None else table[table["step"] >= min_step]
        r = weights_of(t, domains)[:, domains.index(domain)]
        N = t["params"].to_numpy(dtype=float)
        D = t["step"].to_numpy(dtype=float) * float(tokens_per_step)
        y = metric_values(t, [metric])[:, 0]
        ok = np.isfinite(y) & (y > 0) & (D > 0)
        if ok.sum() < 8:
            raise BomixError(f"DCPTLaw needs >= 8 checkpoints to fit 8 parameters, got {ok.sum()}")
        lN = torch.as_tensor(np.log(N[ok] / np.median(N[ok])), dtype=torch.float64)
        lD = torch.as_tensor(np.log(D[ok] / np.median(D[ok])), dtype=torch.float64)
        rt = torch.as_tensor(r[ok], dtype=torch.float64)
        lr_eps = torch.log(rt + eps)
        lr = torch.log(rt.clamp_min(1e-300))
        ly = torch.as_tensor(np.log(y[ok]), dtype=torch.float64)
        n = ly.numel()

        # p = [log E, log A', a, log B', h, b, log C, g] with N, D normalised by their medians
        def loss(p):
            terms = torch.stack([
                p[:, 0:1].expand(-1, n),
                p[:, 1:2] - p[:, 2:3] * lN,
                torch.where(rt > 0, p[:, 3:4] + p[:, 4:5] * lr - p[:, 5:6] * lD,
                            torch.full((p.shape[0], n), -1e3, dtype=p.dtype)),
                p[:, 6:7] - p[:, 7:8] * lr_eps,
            ], dim=0)
            return huber(torch.logsumexp(terms, 0) - ly, delta).sum(-1)

        rng = np.random.default_rng(seed)
        lmin = float(np.log(np.min(y[ok])))
        s = np.column_stack([
            lmin + rng.uniform(-1.5, 0, n_starts), lmin + rng.uniform(-4, 0, n_starts), rng.uniform(0, 1, n_starts),
            lmin + rng.uniform(-4, 0, n_starts), rng.uniform(0, 1.5, n_starts), rng.uniform(0, 1, n_starts),
            lmin + rng.uniform(-6, -1, n_starts), rng.uniform(0, 1, n_starts),
        ])
        bounds = [(-10, 5), (-20, 5), (0, 3), (-20, 5), (0, 3), (0, 3), (-20, 5), (0, 3)]
        p, _ = multistart_lbfgs(loss, s, bounds)
        mN, mD = float(np.median(N[ok])), float(np.median(D[ok]))
        return cls(np.exp(p[0]), np.exp(p[1]) * mN ** p[2], p[2], np.exp(p[3]) * mD ** p[5], p[4], p[5],
                   np.exp(p[6]), p[7], eps=eps, domain=domain, metric=metric)

    def __repr__(self) -> str:
        return f"DCPTLaw({', '.join(f'{k}={v:.4g}' for k, v in self.params().items())})"


def dcpt_optimum_ratio(domain_law: DCPTLaw, general_law: DCPTLaw | None, N: float, D: float,
                       cap: float = 0.03, r_min: float = 0.0, r_max: float = 1.0) -> float:
    """The domain share ``r`` minimising the domain loss with general-loss degradation ``<= cap``.

    Args:
        domain_law: law of the domain (or objective) loss.
        general_law: law of the general loss (None: no constraint).
        N, D: target parameters and tokens.
        cap: allowed relative degradation of the general loss vs ``r_min``.
        r_min, r_max: bounds on ``r``.
    """
    if not 0 <= r_min <= r_max <= 1:
        raise BomixError(f"need 0 <= r_min <= r_max <= 1, got {r_min}, {r_max}")
    grid = np.linspace(r_min, r_max, 2001)
    Ld = domain_law.predict(grid, N, D)
    ok = np.ones_like(grid, dtype=bool)
    if general_law is not None:
        Lg = general_law.predict(grid, N, D)
        ok = (Lg - Lg[0]) / Lg[0] <= cap
    i = int(np.argmin(np.where(ok, Ld, np.inf)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if hi > lo and (general_law is None or ok[max(i - 1, 0)] and ok[min(i + 1, grid.size - 1)]):
        res = minimize_scalar(lambda x: float(domain_law.predict(x, N, D)), bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-9})
        return float(res.x)
    return float(grid[i])
