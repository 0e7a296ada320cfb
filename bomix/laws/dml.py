"""Data Mixing Laws (Ye et al. 2024, arXiv 2403.16952) and their nested step/size extrapolation.

Mixing law, per validation metric ``i`` (mixture ``r``, K domains):

    L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)

with ``c_i = exp(log_c_i)``, ``k_i = exp(log_k_i)``; the total is ``sum_i v_i L_i`` with validation
weights ``v``. Fitted by L-BFGS on a summed Huber loss from many random starts
(``t_ii ~ -U(0, 1)``, ``t_ij ~ U(0, 0.1)`` for a per-domain metric).

Nested extrapolation (the paper's pipeline to predict large runs from small ones): for every run,
a step law ``L(S) = c + (S0 / S) ** a`` fitted on its curve predicts the loss at the target steps;
for every mixture, a size law ``L(N) = c + (N0 / N) ** a`` across the small scales predicts the
target scale; the mixing law is then fitted on those predictions (:func:`nested_extrapolate`).

Table columns used: ``run_id``, ``step``, ``w:<domain>``, ``m:<metric>`` (last checkpoint of each
run) and, for the nested pipeline, ``scale``/``params`` and every checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from bomix import runtable
from bomix.errors import BomixError
from bomix.laws._fit import (
    as_weights, bounds_or_default, check_table, final_rows, huber, metric_values, minimize_on_simplex,
    multistart_lbfgs, simplex_starts, table_domains, table_metrics, vec, weights_of,
)
from bomix.mixture import Mixture

log = logging.getLogger("bomix.laws.dml")


class MixingLaw:
    """Ye et al. mixing law, one exponential law per validation metric.

    Args:
        c, k: ``(M,)`` constants (``c_i``, ``k_i > 0``).
        t: ``(M, K)`` interaction coefficients.
        metrics: optional metric names (M); domains: optional domain names (K).
        metric_weights: ``(M,)`` validation weights ``v`` for the total (default: equal, summing to 1).
    """

    def __init__(self, c, k, t, metrics: Sequence[str] | None = None, domains: Sequence[str] | None = None,
                 metric_weights=None):
        self.t = np.atleast_2d(np.asarray(t, dtype=float))
        M, K = self.t.shape
        self.c, self.k = vec(c, M, "c"), vec(k, M, "k")
        if np.any(self.k <= 0):
            raise BomixError("MixingLaw needs k > 0")
        if not np.all(np.isfinite(self.t)):
            raise BomixError("MixingLaw t has non-finite values")
        self.metrics = None if metrics is None else list(metrics)
        self.domains = None if domains is None else tuple(domains)
        if self.domains is not None and len(self.domains) != K:
            raise BomixError(f"{len(self.domains)} domain names for {K} domains")
        v = np.full(M, 1.0 / M) if metric_weights is None else vec(metric_weights, M, "metric_weights")
        self.metric_weights = v

    @classmethod
    def from_params(cls, c, k, t, **kw) -> "MixingLaw":
        """Build from given parameters (``c``, ``k`` per metric; ``t`` ``(M, K)``)."""
        return cls(c, k, t, **kw)

    @property
    def n_domains(self) -> int:
        return int(self.t.shape[1])

    def predict(self, mixtures, total: bool = False) -> np.ndarray:
        """``(n, K)`` mixtures -> ``(n, M)`` per-metric losses, or ``(n,)`` weighted total when ``total``."""
        w = as_weights(mixtures, self.n_domains)
        L = self.c + self.k * np.exp(w @ self.t.T)
        return L @ self.metric_weights if total else L

    def optimum(self, metric_weights=None, lower=None, upper=None, n_starts: int = 16) -> Mixture:
        """Minimiser of ``sum_i v_i L_i(r)`` over the (bounded) simplex (SLSQP, several starts)."""
        K = self.n_domains
        v = self.metric_weights if metric_weights is None else vec(metric_weights, len(self.c), "metric_weights")
        lo, up = bounds_or_default(K, lower, upper)

        def f(w):
            return float((self.c + self.k * np.exp(self.t @ w)) @ v)

        def g(w):
            return (v * self.k * np.exp(self.t @ w)) @ self.t

        return Mixture(minimize_on_simplex(f, lo, up, simplex_starts(K, lo, up, n_starts), grad=g), self.domains)

    @classmethod
    def fit(
        cls,
        table: pd.DataFrame,
        metrics: Sequence[str] | None = None,
        metric_weights=None,
        step: int | None = None,
        scale: str | None = None,
        delta: float = 0.02,
        n_starts: int = 2000,
        seed: int = 0,
    ) -> "MixingLaw":
        """Fit one law per metric on the last checkpoint of every run (or the rows at ``step``/``scale``).

        Args:
            table: logged-run long format.
            metrics: metrics to fit (default: every ``m:`` column).
            metric_weights: validation weights for :meth:`optimum` (default equal).
            step, scale: restrict to one fidelity (default: every run's last row).
            delta: Huber threshold (the paper uses 0.02-0.05).
            n_starts: random starts screened per metric (the best 8 refined by L-BFGS-B).
            seed: start generator seed.
        """
        fin = final_rows(table, step=step, scale=scale)
        domains = table_domains(table)
        metrics = list(metrics) if metrics is not None else table_metrics(table)
        if not metrics:
            raise BomixError("the table has no 'm:<metric>' columns to fit")
        W = weights_of(fin, domains)
        Y = metric_values(fin, metrics)
        return cls._fit_arrays(W, Y, metrics, domains, metric_weights, delta, n_starts, seed)

    @classmethod
    def _fit_arrays(cls, W: np.ndarray, Y: np.ndarray, metrics, domains, metric_weights=None,
                    delta: float = 0.02, n_starts: int = 2000, seed: int = 0) -> "MixingLaw":
        """Fit from ``(n, K)`` mixtures and ``(n, M)`` losses."""
        n, K = W.shape
        if n < 3:
            raise BomixError(f"MixingLaw needs >= 3 runs to fit, got {n}")
        rng = np.random.default_rng(seed)
        Wt = torch.as_tensor(W, dtype=torch.float64)
        cs, ks, ts = [], [], []
        for m in range(Y.shape[1]):
            y = Y[:, m]
            ok = np.isfinite(y)
            if ok.sum() < 3:
                raise BomixError(f"metric {metrics[m]!r} has fewer than 3 finite values")
            yt = torch.as_tensor(y[ok], dtype=torch.float64)
            Wm = Wt[ok]

            def loss(p, Wm=Wm, yt=yt):
                pred = torch.exp(p[:, :1]) + torch.exp(p[:, 1:2] + p[:, 2:] @ Wm.T)
                return huber(pred - yt, delta).sum(-1)

            s = np.empty((n_starts, K + 2))
            ymin = float(np.min(y[ok]))
            s[:, 0] = np.log(max(ymin, 1e-6)) + rng.uniform(-2.0, 0.0, n_starts)
            s[:, 1] = np.log(max(ymin, 1e-6)) + rng.uniform(-3.0, 0.5, n_starts)
            s[:, 2:] = rng.uniform(-1.0, 0.1, (n_starts, K))
            j = _own_domain(metrics[m], domains)
            if j is not None:  # paper init: t_ii ~ -U(0,1), t_ij ~ U(0, 0.1)
                s[:, 2:] = rng.uniform(0.0, 0.1, (n_starts, K))
                s[:, 2 + j] = -rng.uniform(0.0, 1.0, n_starts)
            bounds = [(-20, 10), (-20, 10)] + [(-30, 30)] * K
            x, _ = multistart_lbfgs(loss, s, bounds)
            cs.append(np.exp(x[0]))
            ks.append(np.exp(x[1]))
            ts.append(x[2:])
        return cls(cs, ks, np.array(ts), metrics=metrics, domains=domains, metric_weights=metric_weights)

    def __repr__(self) -> str:
        return f"MixingLaw(metrics={self.metrics}, K={self.n_domains})"


def _own_domain(metric: str, domains: Sequence[str]) -> int | None:
    for j, d in enumerate(domains):
        if metric == d or metric.endswith(":" + d) or metric.endswith("/" + d):
            return j
    return None


class PowerLaw:
    """``L(x) = c + (x0 / x) ** a`` (the DML step and size laws), fitted by Huber on log-residuals.

    Args:
        c: asymptote; x0: scale constant; a: exponent (> 0).
    """

    def __init__(self, c: float, x0: float, a: float):
        self.c, self.x0, self.a = float(c), float(x0), float(a)

    @classmethod
    def from_params(cls, c: float, x0: float, a: float) -> "PowerLaw":
        return cls(c, x0, a)

    def predict(self, x) -> np.ndarray:
        """``(n,)`` -> ``(n,)``."""
        x = np.asarray(x, dtype=float)
        return self.c + (self.x0 / x) ** self.a

    @classmethod
    def fit(cls, x, y, delta: float = 1e-3, n_starts: int = 32, seed: int = 0) -> "PowerLaw":
        """Fit on ``(n,)`` positive ``x`` and ``y`` (n >= 3)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        if ok.sum() < 3:
            raise BomixError("a step/size power law needs >= 3 points with positive x and y")
        lx = torch.as_tensor(np.log(x[ok]), dtype=torch.float64)
        ly = torch.as_tensor(np.log(y[ok]), dtype=torch.float64)

        def loss(p):  # p = [log c, log x0, log a]
            a = torch.exp(p[:, 2:3])
            pred = torch.logaddexp(p[:, :1].expand(-1, lx.numel()), a * (p[:, 1:2] - lx))
            return huber(pred - ly, delta).sum(-1)

        rng = np.random.default_rng(seed)
        s = np.column_stack([
            np.log(np.min(y[ok])) + rng.uniform(-3.0, 0.0, n_starts),
            np.log(np.median(x[ok])) + rng.uniform(-8.0, 2.0, n_starts),
            np.log(rng.uniform(0.05, 1.5, n_starts)),
        ])
        p, _ = multistart_lbfgs(loss, s, [(-20, 5), (-40, 40), (np.log(1e-3), np.log(5.0))], n_refine=4, n_polish=1,
                                maxiter=150)
        return cls(np.exp(p[0]), np.exp(p[1]), np.exp(p[2]))


def nested_extrapolate(
    table: pd.DataFrame,
    target_step: int,
    target_params: float,
    metrics: Sequence[str] | None = None,
    min_step: int | None = None,
    delta: float = 1e-3,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Predict every mixture's losses at (``target_params``, ``target_step``) from small runs.

    Step law per run and metric (on checkpoints ``>= min_step``, >= 3 of them), predicted at
    ``target_step``; then a size law per mixture and metric across its scales (>= 3 scales), predicted
    at ``target_params``. With fewer than 3 scales, a mixture's prediction from its largest scale is
    used (logged).

    Args:
        table: logged-run long format with every checkpoint (columns ``run_id, params, step, w:, m:``).
        target_step, target_params: the fidelity to predict.
        metrics: metrics to extrapolate (default every ``m:`` column).
        min_step: ignore earlier checkpoints (the warm-up part of a curve).
        cache: optional dict reused across calls: (run_id, metric, last step, target_step) -> step-law prediction.

    Returns:
        One row per mixture: ``w:<domain>...``, ``m:<metric>...`` (predicted), ``run_id`` (a label),
        ``step`` = ``target_step``, ``params`` = ``target_params``.
    """
    check_table(table, ("run_id", "step", "params"))
    domains = table_domains(table)
    metrics = list(metrics) if metrics is not None else table_metrics(table)
    wcols = runtable.wcols(domains)
    per_run = []
    for rid, g in table.groupby("run_id", sort=False):
        g = g.sort_values("step")
        if min_step is not None:
            g = g[g["step"] >= min_step]
        row = {c: float(g[c].iloc[0]) for c in wcols}
        row["params"] = float(g["params"].iloc[0])
        for m in metrics:
            y = g[runtable.mcol(m)].to_numpy(dtype=float)
            s = g["step"].to_numpy(dtype=float)
            key = (rid, m, int(s[-1]), int(target_step))
            if cache is not None and key in cache:
                row[m] = cache[key]
                continue
            if int(s[-1]) == target_step or np.isfinite(y).sum() < 3:
                row[m] = float(y[np.isfinite(y)][-1]) if np.isfinite(y).any() else np.nan
            else:
                row[m] = float(PowerLaw.fit(s, y, delta=delta).predict([target_step])[0])
            if cache is not None:
                cache[key] = row[m]
        per_run.append(row)
    runs = pd.DataFrame(per_run)
    runs["key"] = [tuple(np.round(r, 6)) for r in runs[wcols].to_numpy()]
    out = []
    for i, (key, g) in enumerate(runs.groupby("key", sort=False)):
        g = g.groupby("params", as_index=False).mean(numeric_only=True).sort_values("params")
        row = {c: float(g[c].iloc[0]) for c in wcols}
        for m in metrics:
            if len(g) >= 3 and float(g["params"].iloc[-1]) != target_params:
                row[runtable.mcol(m)] = float(PowerLaw.fit(g["params"], g[m], delta=delta).predict([target_params])[0])
            else:
                row[runtable.mcol(m)] = float(g[m].iloc[-1])
        if len(g) < 3:
            log.info("mixture %d has %d scale(s): using its largest-scale prediction", i, len(g))
        row.update(run_id=f"mix{i}", step=int(target_step), params=float(target_params))
        out.append(row)
    return pd.DataFrame(out)
