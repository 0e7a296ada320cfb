"""RegMix (Liu et al. 2024, arXiv 2407.01492): data mixture as regression.

Small proxy runs on Dirichlet mixtures around the token prior; one regressor per target metric maps
the mixture to the loss (LightGBM ``gbdt``, learning rate 1e-2, up to 1000 rounds, early stopping
after 3 rounds on a held-out split of the training runs, never on a test set; or the linear
variant, ordinary least squares on the weights); the optimum is the mean of the top-k of 100k
Dirichlet(prior) samples ranked by the predicted target.

Table columns used by :meth:`RegMix.fit`: ``run_id``, ``step``, ``w:<domain>``, ``m:<metric>`` (last
checkpoint of each run, optionally one ``scale``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.laws._fit import (
    as_weights, bounds_or_default, final_rows, metric_values, table_domains, table_metrics, vec, weights_of,
)
from bomix.space import Mixture, _project


def design_prior(tokens: np.ndarray | None, k: int) -> np.ndarray:
    """RegMix's sampling prior: token shares to the power 0.5, renormalised (uniform without tokens)."""
    if tokens is None:
        return np.full(k, 1.0 / k)
    p = np.asarray(tokens, dtype=float) / np.sum(tokens)
    p = p**0.5
    return p / p.sum()


def sample_design(n: int, prior: np.ndarray, rng: np.random.Generator, cap: float = 15.0,
                  min_weight: float = 2e-4, max_tries: int = 100) -> np.ndarray:
    """``(n, K)`` RegMix design mixtures: ``w ~ Dir(s * p)`` with ``s`` from 15 log-spaced values in
    [0.1, 5], redrawn when a weight exceeds ``cap * p_i`` (clipped after ``max_tries``), weights below
    ``min_weight`` zeroed, renormalised."""
    prior = np.asarray(prior, dtype=float)
    scales = np.geomspace(0.1, 5.0, 15)
    out = np.empty((n, prior.size))
    up = np.minimum(cap * prior, 1.0)
    for i in range(n):
        for _ in range(max_tries):
            s = scales[rng.integers(len(scales))]
            w = rng.dirichlet(np.maximum(s * prior, 1e-3))
            if np.all(w <= up):
                break
        else:
            w = _project(w[None], np.zeros_like(prior), np.maximum(up, 1.0 / prior.size))[0]
        w = np.where(w < min_weight, 0.0, w)
        out[i] = w / w.sum()
    return out


class RegMix:
    """RegMix regression model, one regressor per target metric.

    Args:
        models: one fitted regressor per metric (LightGBM boosters or ``(coef (K,), intercept)``).
        metrics: the target metric names; domains: the domain names.
        kind: ``"lightgbm"`` or ``"linear"``.
        metric_weights: ``(M,)`` weights for the scalar target (default equal).
        prior: ``(K,)`` Dirichlet prior for :meth:`optimum` (default uniform).
    """

    def __init__(self, models: list, metrics: Sequence[str], domains: Sequence[str], kind: str = "lightgbm",
                 metric_weights=None, prior=None):
        if kind not in ("lightgbm", "linear"):
            raise BomixError(f"RegMix kind must be 'lightgbm' or 'linear', got {kind!r}")
        self.models, self.metrics, self.domains, self.kind = list(models), list(metrics), tuple(domains), kind
        K, M = len(self.domains), len(self.metrics)
        if len(self.models) != M:
            raise BomixError(f"RegMix needs one model per metric ({M}), got {len(self.models)}")
        self.metric_weights = np.full(M, 1.0 / M) if metric_weights is None else vec(metric_weights, M, "metric_weights")
        self.prior = np.full(K, 1.0 / K) if prior is None else vec(prior, K, "prior")
        if np.any(self.prior <= 0):
            raise BomixError("RegMix prior must be > 0 for every domain")
        self.prior = self.prior / self.prior.sum()

    @classmethod
    def from_params(cls, coef, intercept, metrics: Sequence[str], domains: Sequence[str], **kw) -> "RegMix":
        """Linear RegMix from given coefficients: ``coef`` ``(M, K)``, ``intercept`` ``(M,)``."""
        coef = np.atleast_2d(np.asarray(coef, dtype=float))
        intercept = vec(intercept, coef.shape[0], "intercept")
        return cls([(c, float(b)) for c, b in zip(coef, intercept)], metrics, domains, kind="linear", **kw)

    @classmethod
    def fit(
        cls,
        table: pd.DataFrame,
        metrics: Sequence[str] | None = None,
        kind: str = "lightgbm",
        metric_weights=None,
        prior=None,
        scale: str | None = None,
        holdout: float = 0.2,
        num_iterations: int = 1000,
        learning_rate: float = 1e-2,
        early_stopping: int = 3,
        seed: int = 0,
    ) -> "RegMix":
        """Fit one regressor per metric on the last checkpoint of every run.

        ``holdout`` of the runs (at least 1 when there are >= 5) is kept aside for early stopping.
        LightGBM's ``min_data_in_leaf`` is ``min(20, max(2, n // 5))`` so that small designs still split.
        """
        fin = final_rows(table, scale=scale)
        domains = table_domains(table)
        metrics = list(metrics) if metrics is not None else table_metrics(table)
        if not metrics:
            raise BomixError("the table has no 'm:<metric>' columns to fit")
        W = weights_of(fin, domains)
        Y = metric_values(fin, metrics)
        return cls._fit_arrays(W, Y, metrics, domains, kind, metric_weights, prior, holdout, num_iterations,
                               learning_rate, early_stopping, seed)

    @classmethod
    def _fit_arrays(cls, W, Y, metrics, domains, kind="lightgbm", metric_weights=None, prior=None,
                    holdout=0.2, num_iterations=1000, learning_rate=1e-2, early_stopping=3, seed=0) -> "RegMix":
        n, K = W.shape
        if n < 3:
            raise BomixError(f"RegMix needs >= 3 runs to fit, got {n}")
        if not 0 <= holdout < 1:
            raise BomixError(f"holdout must be in [0, 1), got {holdout}")
        models = []
        if kind == "linear":
            for m in range(Y.shape[1]):
                ok = np.isfinite(Y[:, m])
                X = np.column_stack([W[ok], np.ones(ok.sum())])
                # weights sum to 1: the minimum-norm solution splits the intercept evenly
                sol = np.linalg.lstsq(X, Y[ok, m], rcond=None)[0]
                models.append((sol[:K], float(sol[K])))
        elif kind == "lightgbm":
            from bomix.extras import require

            lgb = require("lightgbm", "lightgbm", "the RegMix law's LightGBM regressor (policy=regmix)")

            rng = np.random.default_rng(seed)
            perm = rng.permutation(n)
            n_val = int(round(holdout * n)) if n >= 5 else 0
            val, tr = perm[:n_val], perm[n_val:]
            params = {
                "boosting_type": "gbdt", "objective": "regression", "metric": ["l1", "l2"],
                "learning_rate": learning_rate, "seed": int(seed), "verbosity": -1, "num_threads": 1,
                "min_data_in_leaf": int(min(20, max(2, len(tr) // 5))), "deterministic": True,
                "min_data_in_bin": 1,
            }
            for m in range(Y.shape[1]):
                y = Y[:, m]
                trm, valm = tr[np.isfinite(y[tr])], val[np.isfinite(y[val])]
                dtr = lgb.Dataset(W[trm], y[trm], free_raw_data=False)
                kw = {}
                if valm.size:
                    kw = {"valid_sets": [lgb.Dataset(W[valm], y[valm], reference=dtr)],
                          "callbacks": [lgb.early_stopping(early_stopping, verbose=False)]}
                models.append(lgb.train(params, dtr, num_boost_round=num_iterations, **kw))
        else:
            raise BomixError(f"RegMix kind must be 'lightgbm' or 'linear', got {kind!r}")
        return cls(models, metrics, domains, kind, metric_weights, prior)

    @property
    def n_domains(self) -> int:
        return len(self.domains)

    def predict(self, mixtures, total: bool = False) -> np.ndarray:
        """``(n, K)`` mixtures -> ``(n, M)`` predicted metrics, or the ``(n,)`` weighted total."""
        w = as_weights(mixtures, self.n_domains)
        cols = []
        for mdl in self.models:
            if self.kind == "linear":
                coef, b = mdl
                cols.append(w @ coef + b)
            else:
                best = mdl.best_iteration if mdl.best_iteration and mdl.best_iteration > 0 else None
                cols.append(mdl.predict(w, num_iteration=best))
        Y = np.column_stack(cols)
        return Y @ self.metric_weights if total else Y

    def optimum(self, n_samples: int = 100_000, top_k: int = 128, seed: int = 0, lower=None, upper=None,
                candidates: np.ndarray | None = None) -> Mixture:
        """Mean of the ``top_k`` best of ``n_samples`` Dirichlet(prior) mixtures by the predicted total.

        With bounds, samples are projected onto them (and so is the mean). With ``candidates``
        ``(m, K)``, returns the best candidate instead (pool problems).
        """
        K = self.n_domains
        if candidates is not None:
            c = as_weights(candidates, K)
            return Mixture(c[int(np.argmin(self.predict(c, total=True)))], self.domains)
        lo, up = bounds_or_default(K, lower, upper)
        rng = np.random.default_rng(seed)
        W = rng.dirichlet(self.prior, size=int(n_samples))
        if np.any(lo > 0) or np.any(up < 1):
            W = _project(W, lo, up)
        pred = self.predict(W, total=True)
        top = np.argsort(pred, kind="stable")[: max(1, min(int(top_k), len(W)))]
        w = W[top].mean(0)
        if np.any(lo > 0) or np.any(up < 1):
            w = _project(w[None], lo, up)[0]
        return Mixture(w / w.sum(), self.domains)

    def __repr__(self) -> str:
        return f"RegMix(kind={self.kind}, metrics={self.metrics}, K={self.n_domains})"
