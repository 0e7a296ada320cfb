"""BiMix (Ge et al. 2024, arXiv 2405.14908): a bivariate law in a domain's proportion and the steps.

Per domain ``i`` (its own validation loss, proportion ``r_i``, training steps ``s``):

    L_i(r_i, s) = (A_i / r_i ** a_i) * (B_i / s ** b_i + C_i)

The mixture minimises ``sum_i v_i L_i(r_i, s)`` at the target steps subject to ``sum r = 1``; the
stationarity condition gives ``r_i(lambda) = (a_i v_i A_i G_i(s) / lambda) ** (1 / (1 + a_i))`` with
``G_i(s) = B_i s ** (-b_i) + C_i``, clipped to the bounds, and ``lambda`` by a 1-D root solve
(the clipped map is monotone in ``lambda``).

Table columns used by :meth:`BiMix.fit`: ``run_id``, ``step`` (every checkpoint), ``w:<domain>`` and
one ``m:<metric>`` per domain (its own validation loss). Rows with ``r_i = 0`` are skipped for ``i``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.optimize import brentq

from bomix.errors import BomixError
from bomix.laws._fit import (
    as_weights, bounds_or_default, check_table, domain_metric_map, huber, metric_values, multistart_lbfgs,
    table_domains, table_metrics, vec, weights_of,
)
from bomix.mixture import Mixture


class BiMix:
    """BiMix law with per-domain ``A, a, B, b, C`` (each ``(K,)``).

    Args:
        A, a, B, b, C: parameters (A, B, C > 0; a, b >= 0).
        domains: optional domain names; metrics: the per-domain metrics it was fitted on.
    """

    def __init__(self, A, a, B, b, C, domains: Sequence[str] | None = None, metrics: Sequence[str] | None = None):
        K = np.asarray(A, dtype=float).reshape(-1).size
        self.A, self.a, self.B = vec(A, K, "A"), vec(a, K, "a"), vec(B, K, "B")
        self.b, self.C = vec(b, K, "b"), vec(C, K, "C")
        if np.any(self.A <= 0) or np.any(self.B < 0) or np.any(self.C < 0) or np.any(self.a < 0):
            raise BomixError("BiMix needs A > 0, B >= 0, C >= 0, a >= 0")
        self.domains = None if domains is None else tuple(domains)
        self.metrics = None if metrics is None else list(metrics)

    @classmethod
    def from_params(cls, A, a, B, b, C, domains=None) -> "BiMix":
        return cls(A, a, B, b, C, domains)

    @property
    def n_domains(self) -> int:
        return int(self.A.size)

    def G(self, steps: float) -> np.ndarray:
        """``(K,)`` step factor ``B_i s^(-b_i) + C_i``."""
        return self.B * float(steps) ** (-self.b) + self.C

    def predict(self, mixtures, steps) -> np.ndarray:
        """``(n, K)`` mixtures, steps scalar or ``(n,)`` -> ``(n, K)`` per-domain losses (inf at r_i = 0)."""
        w = as_weights(mixtures, self.n_domains)
        s = np.broadcast_to(np.asarray(steps, dtype=float), (w.shape[0],))[:, None]
        with np.errstate(divide="ignore"):
            return self.A / w**self.a * (self.B * s ** (-self.b) + self.C)

    def optimum(self, steps: float, weights=None, lower=None, upper=None) -> Mixture:
        """Minimiser of ``sum_i v_i L_i(r_i, steps)`` on the (bounded) simplex (closed form + root solve)."""
        K = self.n_domains
        v = np.ones(K) if weights is None else vec(weights, K, "weights")
        lo, up = bounds_or_default(K, lower, upper)
        q = self.a * v * self.A * self.G(steps)
        act = q > 0  # domains with no effect go to their lower bound
        e = 1.0 / (1.0 + self.a)

        def r(loglam: float) -> np.ndarray:
            with np.errstate(over="ignore", divide="ignore"):
                x = np.where(act, np.exp(e * (np.log(np.where(act, q, 1.0)) - loglam)), 0.0)
            return np.clip(x, lo, up)

        f = lambda ll: r(ll).sum() - 1.0  # noqa: E731 - decreasing in log lambda
        a_, b_ = -50.0, 50.0
        while f(a_) < 0 and a_ > -1e4:
            a_ *= 2
        while f(b_) > 0 and b_ < 1e4:
            b_ *= 2
        if f(a_) < 0 or f(b_) > 0:
            raise BomixError("BiMix optimum: the bounds leave no mixture with sum 1")
        w = r(brentq(f, a_, b_, xtol=1e-14, rtol=1e-14, maxiter=500))
        return Mixture(w / w.sum(), self.domains)

    @classmethod
    def fit(cls, table: pd.DataFrame, metrics: Sequence[str] | Mapping[str, str] | None = None,
            min_step: int | None = None, delta: float = 1e-3, n_starts: int = 256, seed: int = 0) -> "BiMix":
        """Fit each domain's law on every checkpoint (``step >= min_step``) by Huber on log-losses.

        Args:
            metrics: per-domain metrics in domain order or a dict domain -> metric (default: matched by name).
        """
        check_table(table)
        domains = table_domains(table)
        K = len(domains)
        if isinstance(metrics, Mapping) or metrics is None:
            mmap = domain_metric_map(domains, table_metrics(table), metrics)
        else:
            if len(metrics) != K:
                raise BomixError(f"metrics needs one metric per domain ({K})")
            mmap = dict(zip(domains, metrics))
        missing = [d for d in domains if d not in mmap]
        if missing:
            raise BomixError(f"BiMix needs a validation metric per domain; none for {missing}: pass metrics=...")
        t = table if min_step is None else table[table["step"] >= min_step]
        W = weights_of(t, domains)
        S = t["step"].to_numpy(dtype=float)
        Y = metric_values(t, [mmap[d] for d in domains])
        rng = np.random.default_rng(seed)
        P = []
        for i in range(K):
            ok = (W[:, i] > 0) & np.isfinite(Y[:, i]) & (Y[:, i] > 0) & (S > 0)
            if ok.sum() < 5:
                raise BomixError(f"BiMix needs >= 5 checkpoints with w > 0 for domain {domains[i]!r}, got {ok.sum()}")
            lr = torch.as_tensor(np.log(W[ok, i]), dtype=torch.float64)
            ls = torch.as_tensor(np.log(S[ok]), dtype=torch.float64)
            ly = torch.as_tensor(np.log(Y[ok, i]), dtype=torch.float64)

            def loss(p, lr=lr, ls=ls, ly=ly):  # p = [log A, a, log B, b, log C]
                g = torch.logaddexp(p[:, 2:3] - p[:, 3:4] * ls, p[:, 4:5].expand(-1, ls.numel()))
                pred = p[:, :1] - p[:, 1:2] * lr + g
                return huber(pred - ly, delta).sum(-1)

            s = np.column_stack([
                rng.uniform(-1.0, 1.0, n_starts), rng.uniform(0.0, 0.3, n_starts),
                rng.uniform(-1.0, 4.0, n_starts), rng.uniform(0.05, 1.0, n_starts),
                np.log(np.min(Y[ok, i])) + rng.uniform(-2.0, 0.0, n_starts),
            ])
            x, _ = multistart_lbfgs(loss, s, [(-10, 10), (0, 3), (-20, 20), (0, 3), (-20, 10)])
            P.append(x)
        P = np.array(P)
        return cls(np.exp(P[:, 0]), P[:, 1], np.exp(P[:, 2]), P[:, 3], np.exp(P[:, 4]), domains,
                   [mmap[d] for d in domains])

    def __repr__(self) -> str:
        return f"BiMix(K={self.n_domains})"
