"""The SFT data-mixing transfer law of Li, Liu & Xing (ICML 2025).

Per domain ``i`` (K domains, total training data ``N0`` in a fixed unit, mixture ``w``):

    L_i(w, N0) = C_i * (w_i * N0 + k_i * ((1 - w_i) * N0) ** alpha_i) ** (-beta_i) + E_i

``k_i * ((1 - w_i) N0) ** alpha_i`` is the "effective data transferred" to domain ``i`` from the
other domains (bounded by the real other-domain data; ``alpha_i`` in [0, 1]). The mixture chosen is
the minimiser of ``sum_i u_i L_i`` over the simplex (``u`` = validation weights, default all 1), by
SLSQP at a tight tolerance.

Table columns used by :meth:`SFTTransferLaw.fit`: ``run_id``, ``step`` (``N0 = step * n0_per_step``),
``w:<domain>`` and either the per-domain ``m:<metric>`` columns or one aggregate ``m:<metric>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from bomix.errors import BomixError
from bomix.laws._fit import (
    as_weights, bounds_or_default, domain_metric_map, final_rows, huber, metric_values,
    minimize_on_simplex, multistart_lbfgs, simplex_starts, table_domains, table_metrics, vec,
    weights_of,
)
from bomix.mixture import Mixture

_EPS = 1e-12


def _law_torch(p: torch.Tensor, wi: torch.Tensor, n0: torch.Tensor) -> torch.Tensor:
    """Batched per-domain law. ``p``: ``(b, 5)`` = [log C, log k, alpha, beta, log E]; ``wi``, ``n0``: ``(n,)``.

    Returns ``(b, n)`` losses.
    """
    logC, logk, alpha, beta, logE = (p[:, j : j + 1] for j in range(5))
    other = ((1 - wi) * n0).clamp_min(_EPS)
    eff = wi * n0 + torch.exp(logk + alpha * torch.log(other))
    return torch.exp(logC - beta * torch.log(eff.clamp_min(_EPS))) + torch.exp(logE)


class SFTTransferLaw:
    """Li-Liu-Xing transfer law with per-domain parameters ``C, k, alpha, beta, E`` (each ``(K,)``).

    Args:
        C, k, alpha, beta, E: ``(K,)`` parameters (see the module docstring).
        domains: optional domain names (for named mixtures).
    """

    def __init__(self, C, k, alpha, beta, E, domains: Sequence[str] | None = None):
        C = np.asarray(C, dtype=float).reshape(-1)
        K = C.size
        self.C, self.k = vec(C, K, "C"), vec(k, K, "k")
        self.alpha, self.beta, self.E = vec(alpha, K, "alpha"), vec(beta, K, "beta"), vec(E, K, "E")
        if np.any(self.C <= 0) or np.any(self.k < 0):
            raise BomixError("SFTTransferLaw needs C > 0 and k >= 0")
        if np.any(self.alpha < 0) or np.any(self.alpha > 1):
            raise BomixError("SFTTransferLaw needs alpha in [0, 1]")
        self.domains = None if domains is None else tuple(domains)
        if self.domains is not None and len(self.domains) != K:
            raise BomixError(f"{len(self.domains)} domain names for {K} domains")
        self.metrics: list[str] | None = None
        self.aggregate: str | None = None

    @classmethod
    def from_params(cls, C, k, alpha, beta, E, domains: Sequence[str] | None = None) -> "SFTTransferLaw":
        """Build from published parameters (``N0`` later in the unit they were fitted in)."""
        return cls(C, k, alpha, beta, E, domains)

    @property
    def n_domains(self) -> int:
        return int(self.C.size)

    def params(self) -> dict[str, list[float]]:
        return {n: getattr(self, n).tolist() for n in ("C", "k", "alpha", "beta", "E")}

    # ----- prediction ----------------------------------------------------------------------------
    def predict(self, mixtures, N0) -> np.ndarray:
        """Per-domain losses.

        Args:
            mixtures: ``(n, K)`` mixtures (or Mixture objects).
            N0: total data, scalar or ``(n,)``, in the parameters' unit.

        Returns:
            ``(n, K)`` predicted losses.
        """
        w = as_weights(mixtures, self.n_domains)
        n0 = np.broadcast_to(np.asarray(N0, dtype=float), (w.shape[0],))[:, None]
        if np.any(n0 <= 0):
            raise BomixError("N0 must be > 0")
        other = np.clip((1 - w) * n0, _EPS, None)
        eff = w * n0 + self.k * other**self.alpha
        return self.C * eff ** (-self.beta) + self.E

    def predict_total(self, mixtures, N0, weights=None) -> np.ndarray:
        """``(n,)`` validation-weighted sum ``sum_i u_i L_i`` (``u`` default all ones)."""
        u = np.ones(self.n_domains) if weights is None else vec(weights, self.n_domains, "weights")
        return self.predict(mixtures, N0) @ u

    def optimum(self, N0: float, weights=None, lower=None, upper=None, n_starts: int = 8) -> Mixture:
        """Minimiser of ``sum_i u_i L_i(w, N0)`` over the (bounded) simplex, by SLSQP from several starts."""
        K = self.n_domains
        u = np.ones(K) if weights is None else vec(weights, K, "weights")
        lo, up = bounds_or_default(K, lower, upper)
        n0 = float(N0)
        if not n0 > 0:
            raise BomixError(f"N0 must be > 0, got {N0}")

        def f(w):
            return float(self.predict(w[None], n0)[0] @ u)

        def g(w):
            w = np.clip(w, 0, 1)
            other = np.clip((1 - w) * n0, _EPS, None)
            eff = w * n0 + self.k * other**self.alpha
            deff = n0 - self.k * self.alpha * other ** (self.alpha - 1) * n0
            return u * (-self.beta) * self.C * eff ** (-self.beta - 1) * deff

        w = minimize_on_simplex(f, lo, up, simplex_starts(K, lo, up, n_starts), grad=g)
        return Mixture(w, self.domains)

    # ----- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        table: pd.DataFrame,
        metrics: Sequence[str] | Mapping[str, str] | None = None,
        aggregate: str | None = None,
        aggregate_weights=None,
        n0_per_step: float = 1.0,
        delta: float = 1e-3,
        n_starts: int = 256,
        seed: int = 0,
    ) -> "SFTTransferLaw":
        """Fit from logged runs (last checkpoint of every run).

        Args:
            table: logged-run long format (see module docstring for the columns used).
            metrics: per-domain validation metrics, a list in domain order or a dict domain -> metric
                (default: the metric named ``<domain>`` or ending in ``:<domain>``).
            aggregate: instead of per-domain losses, fit ``sum_i u_i L_i`` to this one metric.
            aggregate_weights: ``u`` for the aggregate fit (default all ones).
            n0_per_step: unit of ``N0``: ``N0 = step * n0_per_step``.
            delta: Huber threshold on log-loss residuals (the authors use 1e-3).
            n_starts: random starts per fit (the best 8 are refined by L-BFGS-B).
            seed: start generator seed.
        """
        fin = final_rows(table)
        domains = table_domains(table)
        K = len(domains)
        w = weights_of(fin, domains)
        n0 = fin["step"].to_numpy(dtype=float) * float(n0_per_step)
        rng = np.random.default_rng(seed)
        if aggregate is None:
            mmap = _per_domain_metrics(table, domains, metrics)
            Y = metric_values(fin, [mmap[d] for d in domains])
            _check_losses(Y)
            P = _fit_per_domain(w, n0, Y, delta, rng, n_starts)
            law = cls(np.exp(P[:, 0]), np.exp(P[:, 1]), P[:, 2], P[:, 3], np.exp(P[:, 4]), domains)
            law.metrics = [mmap[d] for d in domains]
            return law

        u = np.ones(K) if aggregate_weights is None else vec(aggregate_weights, K, "aggregate_weights")
        y = metric_values(fin, [aggregate])[:, 0]
        _check_losses(y)
        P = _fit_aggregate(w, n0, y, u, delta, rng, n_starts)
        law = cls(np.exp(P[:, 0]), np.exp(P[:, 1]), P[:, 2], P[:, 3], np.exp(P[:, 4]), domains)
        law.aggregate = aggregate
        return law

    def __repr__(self) -> str:
        return f"SFTTransferLaw({self.params()})"


# ----- fitting helpers ---------------------------------------------------------------------------
# one domain's raw parameters p = [log C, log k, alpha, beta, log E]: random starts are drawn in
# [_LOWS, _HIGHS] (around the authors' init C=3, k=0.5, alpha=0.5, E=1), L-BFGS-B keeps them in _BOUNDS
_LOWS = np.array([-3.0, -4.0, 0.0, 0.01, -4.0])
_HIGHS = np.array([4.0, 2.0, 1.0, 1.0, 1.5])
_BOUNDS = [(-10, 10), (-12, 6), (0.0, 1.0), (1e-3, 3.0), (-10, 4)]


def _starts(rng: np.random.Generator, m: int) -> np.ndarray:
    """``(m, 5)`` starts for one domain's raw parameters, the first at the authors' init."""
    s = rng.uniform(_LOWS, _HIGHS, size=(m, 5))
    s[0] = [np.log(3.0), np.log(0.5), 0.5, 0.3, 0.0]
    return s


def _penalty(p: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``(b,)`` penalty on raw parameters ``p`` ``(b, 5)`` where the transferred data ``k * x^alpha`` exceeds
    the real other-domain data ``x`` = ``other`` ``(n,)``."""
    lo_ = torch.log(other.clamp_min(1.0))
    excess = p[:, 1:2] + (p[:, 2:3] - 1) * lo_
    return 10.0 * torch.relu(excess).pow(2).sum(-1)


def _check_losses(y: np.ndarray) -> None:
    """The law is fitted to log losses: every value must be positive and finite."""
    if np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise BomixError("SFTTransferLaw fits positive, finite losses")


def _per_domain_metrics(table: pd.DataFrame, domains: list[str],
                        metrics: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Domain -> its own loss metric: from a dict, a list in domain order, or found by name (see ``fit``)."""
    K = len(domains)
    if isinstance(metrics, Mapping):
        mmap = domain_metric_map(domains, table_metrics(table), dict(metrics))
    elif metrics is not None:
        if len(metrics) != K:
            raise BomixError(f"metrics needs one metric per domain ({K}), got {len(metrics)}")
        mmap = dict(zip(domains, metrics))
    else:
        mmap = domain_metric_map(domains, table_metrics(table))
    missing = [d for d in domains if d not in mmap]
    if missing:
        raise BomixError(f"no per-domain metric for domain(s) {missing}: pass metrics=... or aggregate=...")
    return mmap


def _fit_per_domain(w: np.ndarray, n0: np.ndarray, Y: np.ndarray, delta: float, rng: np.random.Generator,
                    n_starts: int) -> np.ndarray:
    """Fit each domain's law to its own losses, one after another (Huber on log-loss residuals).

    Args:
        w: ``(n, K)`` run weights; n0: ``(n,)`` total data; Y: ``(n, K)`` per-domain losses.

    Returns:
        ``(K, 5)`` raw parameters ``[log C, log k, alpha, beta, log E]`` per domain.
    """
    params = []
    n0_t = torch.as_tensor(n0, dtype=torch.float64)
    for i in range(w.shape[1]):
        wi = torch.as_tensor(w[:, i], dtype=torch.float64)
        logy = torch.as_tensor(np.log(Y[:, i]), dtype=torch.float64)
        other = (1 - wi) * n0_t

        def loss(p, wi=wi, logy=logy, other=other):
            pred = _law_torch(p, wi, n0_t)
            return huber(torch.log(pred) - logy, delta).sum(-1) + _penalty(p, other)

        x, _ = multistart_lbfgs(loss, _starts(rng, n_starts), _BOUNDS)
        params.append(x)
    return np.array(params)


def _fit_aggregate(w: np.ndarray, n0: np.ndarray, y: np.ndarray, u: np.ndarray, delta: float,
                   rng: np.random.Generator, n_starts: int) -> np.ndarray:
    """Fit all domains' laws jointly to one aggregate loss ``sum_i u_i L_i``.

    Args:
        w: ``(n, K)`` run weights; n0: ``(n,)`` total data; y: ``(n,)`` aggregate losses; u: ``(K,)`` weights.

    Returns:
        ``(K, 5)`` raw parameters ``[log C, log k, alpha, beta, log E]`` per domain.
    """
    K = w.shape[1]
    W = torch.as_tensor(w, dtype=torch.float64)
    n0_t = torch.as_tensor(n0, dtype=torch.float64)
    logy = torch.as_tensor(np.log(y), dtype=torch.float64)
    u_t = torch.as_tensor(u, dtype=torch.float64)

    def loss_agg(p):  # p: (b, 5K), domain-major
        b = p.shape[0]
        P = p.view(b, K, 5)
        tot = 0.0
        pen = 0.0
        for i in range(K):
            tot = tot + u_t[i] * _law_torch(P[:, i], W[:, i], n0_t)
            pen = pen + _penalty(P[:, i], (1 - W[:, i]) * n0_t)
        return huber(torch.log(tot) - logy, delta).sum(-1) + pen

    s = np.concatenate([_starts(rng, n_starts) for _ in range(K)], axis=1)
    s[:, 4::5] -= np.log(K)  # the E_i share the asymptote
    x, _ = multistart_lbfgs(loss_agg, s, _BOUNDS * K)
    return x.reshape(K, 5)
