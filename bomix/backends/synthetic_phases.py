"""The synthetic backend's annealing law: why a mixture *schedule* (phases) can beat every static mixture.

Opt-in (``SyntheticBackend(anneal=c)`` with ``c > 0``; off, every metric is as before, bit for bit). A run is
scored at each evaluated step ``t`` as if its learning rate had been cooled down at ``t`` (the usual way to read
a warmup-stable-decay run at any step): tokens seen late, while the learning rate decays, shape the final model
more than their count says. With ``w(tau)`` the mixture at step ``tau < t`` and an exponential recency kernel
of mean age ``h t`` (``h`` = ``anneal_window``, a fraction of the evaluated step), validation domain ``i`` sees
the *recent quality*

    M_i(t) = sum_tau k_t(tau) (Q w(tau))_i / sum_tau k_t(tau),    k_t(tau) = exp(-(t - 1 - tau) / (h t))

through a second, seeded *annealing transfer* ``Q (K, K)`` (``Q_ij = R_ij q_j``: a sparse transfer ``R`` with
``R_ii = 1`` times a per-source quality ``q_j``; the last domain, nearly useless as pre-training data
(``T_i,K-1 = 0.02``), is a high-quality mid-training source: ``q = 1`` and ``R_i,K-1 ~ U(0.5, 1)``). For a
piecewise-constant schedule, a segment ``[a, b)`` has the kernel share
``(exp(-(t - min(b, t)) / (h t)) - exp(-(t - min(a, t)) / (h t))) / (1 - exp(-1 / h))``, a function of
``a / t`` and ``b / t`` only. Annealing on good data removes part of the reducible data term:

    L_i = E_i + A_i (N / 1e6)^(-a_i) + B_i (D_i / 1e9 + floor)^(-b_i) (1 - c M_i / (M_i + kappa))

(``c`` = ``anneal``, ``kappa`` = ``anneal_saturation``; ``D_i`` as in :mod:`bomix.backends.synthetic`). The
effective tokens ``D`` still reward the whole run's mixture and the recent quality rewards the end's, so the
best schedule spends the long first phase on what ``T`` and ``u`` want and the short last phase on the sources
``Q`` favours; a static mixture must compromise. The gain multiplies the data term, so it holds at every scale
and step count (a run's phases are fractions of its own steps). A static mixture has ``M = Q w``, so
:meth:`SyntheticBackend.optimum` is the best *static* mixture under the same law.

:func:`schedule_values` is the vectorised noiseless truth of P-phase schedules; :func:`schedule_optimum` the
best schedule for fixed phase fractions. Online controllers are refused under this law (it is not simulated
step by step).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import product
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize

from bomix.errors import BomixError
from bomix.fidelity import Fidelity
from bomix.objective import Objective

if TYPE_CHECKING:
    from bomix.backends.synthetic import SyntheticBackend


@dataclass(frozen=True)
class AnnealConfig:
    """The annealing law's parameters (see the module docstring).

    Args:
        strength: ``c`` in [0, 1): the share of the reducible data loss that annealing on ideal data could
            remove (before saturation); 0 = off (the plain law).
        window: ``h`` in (0, 1]: the recency kernel's mean age as a fraction of the evaluated step.
        saturation: ``kappa > 0``: recent quality at which half of ``c`` is reached.
    """

    strength: float = 0.0
    window: float = 0.1
    saturation: float = 0.3

    def __post_init__(self) -> None:
        for key, v, ok in (("anneal", self.strength, lambda x: 0.0 <= x < 1.0),
                           ("anneal_window", self.window, lambda x: 0.0 < x <= 1.0),
                           ("anneal_saturation", self.saturation, lambda x: x > 0.0)):
            try:
                x = float(v)
            except (TypeError, ValueError):
                x = float("nan")
            if isinstance(v, bool) or not math.isfinite(x) or not ok(x):
                rng = {"anneal": "in [0, 1) (0 = off)", "anneal_window": "in (0, 1]",
                       "anneal_saturation": "> 0"}[key]
                raise BomixError(f"backend.{key} must be a number {rng}, got {v!r}: set backend.{key}=...")

    @property
    def on(self) -> bool:
        return self.strength > 0.0

    def describe(self) -> dict:
        return {k: float(v) for k, v in asdict(self).items()}


def draw_quality_transfer(k: int, rng: np.random.Generator) -> np.ndarray:
    """``(K, K)`` annealing transfer ``Q_ij = R_ij q_j`` (validation domain i, source j; see the module docstring)."""
    R = rng.uniform(0.0, 0.5, (k, k)) * (rng.uniform(size=(k, k)) < 0.5)
    np.fill_diagonal(R, 1.0)
    q = rng.uniform(0.1, 1.0, k)
    R[:, -1] = rng.uniform(0.5, 1.0, k)
    q[-1] = 1.0
    return R * q[None, :]


def kernel_shares(start: np.ndarray, end: np.ndarray, t: np.ndarray, window: float) -> np.ndarray:
    """Recency-kernel share of the segments ``[start, end)`` for a model evaluated after ``t`` steps
    (broadcast arrays of steps; the parts beyond ``t`` do not count). Shares of a partition of ``[0, t)`` sum
    to 1."""
    t = np.asarray(t, dtype=float)
    e = np.minimum(end, t)
    s = np.minimum(start, t)
    scale = window * t
    return (np.exp(-(t - e) / scale) - np.exp(-(t - s) / scale)) / -math.expm1(-1.0 / window)


def anneal_factor(recent: np.ndarray, cfg: AnnealConfig) -> np.ndarray:
    """Recent quality ``M (n, K)`` -> the factor ``1 - c M / (M + kappa)`` on the reducible data term."""
    return 1.0 - cfg.strength * recent / (recent + cfg.saturation)


def schedule_recent(b: "SyntheticBackend", starts, mixtures, steps: np.ndarray) -> np.ndarray:
    """Recent quality ``(len(steps), K)`` of a piecewise-constant schedule (``starts`` and ``(K,)``
    ``mixtures``) evaluated at each of ``steps``."""
    bounds = list(starts) + [np.inf]
    steps = np.asarray(steps, dtype=float)
    out = np.zeros((steps.size, b.space.k))
    for a, e, w in zip(bounds, bounds[1:], mixtures):
        out += kernel_shares(a, e, steps, b.anneal.window)[:, None] * (b.Q @ w)[None, :]
    return out


def _check(b: "SyntheticBackend", W, fractions) -> tuple[np.ndarray, np.ndarray]:
    """``W (n, P, K)`` and fractions ``(n, P)`` (broadcast from ``(P,)``), validated."""
    W = np.asarray(W, dtype=float)
    if W.ndim == 2:
        W = W[None]
    k = b.space.k
    if W.ndim != 3 or W.shape[2] != k or W.shape[1] < 1:
        raise BomixError(f"schedule mixtures must have shape (n, P, {k}), got {W.shape}")
    if not np.all(np.isfinite(W)) or np.any(W < -1e-9) or np.any(np.abs(W.sum(2) - 1.0) > 1e-6):
        raise BomixError("every phase's mixture must be non-negative and sum to 1 (within 1e-6)")
    f = np.asarray(fractions, dtype=float)
    if f.ndim == 1:
        f = np.broadcast_to(f, (W.shape[0], f.size))
    if f.shape != W.shape[:2]:
        raise BomixError(f"phase fractions must have shape ({W.shape[1]},) or {W.shape[:2]}, got {f.shape}")
    if not np.all(np.isfinite(f)) or np.any(f < 0) or np.any(np.abs(f.sum(1) - 1.0) > 1e-6):
        raise BomixError("phase fractions must be non-negative and sum to 1 (within 1e-6)")
    return W, f


def phase_bounds(fractions: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Phase ``(starts, ends)``, each ``(n, P)`` steps, of runs of ``steps`` steps: boundaries
    ``rint(cumsum(f) * steps)`` (the phase adapter's ``MixtureSchedule`` starts)."""
    cut = np.rint(np.cumsum(fractions, axis=1)[:, :-1] * steps)
    n = fractions.shape[0]
    starts = np.hstack([np.zeros((n, 1)), cut])
    ends = np.hstack([cut, np.full((n, 1), float(steps))])
    return starts, np.maximum(ends, starts)


def schedule_metrics(b: "SyntheticBackend", W, fractions, scale: str, steps: int) -> dict[str, np.ndarray]:
    """Noiseless metrics at the end of runs of ``steps`` steps at ``scale`` under P-phase schedules.

    Args:
        W: ``(n, P, K)`` per-phase mixtures (or ``(P, K)``).
        fractions: ``(n, P)`` or ``(P,)`` phase fractions of the run's steps, summing to 1.

    Returns:
        metric -> ``(n,)`` (the final row of :meth:`SyntheticBackend.run` for the equivalent schedule).
    """
    W, f = _check(b, W, fractions)
    S = int(steps)
    starts, ends = phase_bounds(f, S)
    span = ends - starts
    if b.rho != 1.0:  # a phase ending r steps before S is discounted by rho^r (as in _effective_tokens)
        span = np.where(span > 0, b.rho ** (S - ends) * b.step_equivalents(span), 0.0)
    eff = np.einsum("np,npk->nk", span, W @ b.T.T) * b.space.tokens_per_step
    recent = None
    if b.anneal.on:
        recent = np.einsum("np,npk->nk", kernel_shares(starts, ends, S, b.anneal.window), W @ b.Q.T)
    params = np.full(W.shape[0], b.space.scale(scale).params)
    out = b._noiseless(eff, params, recent)
    if b.tasks:
        out.update(b._task_metrics(np.column_stack([out[f"loss:{d}"] for d in b.space.domains])))
    return out


def schedule_values(b: "SyntheticBackend", W, fractions, fidelity: Fidelity, objective: Objective) -> np.ndarray:
    """``(n,)`` noiseless ``objective`` at the end of a run at ``fidelity`` under each schedule (see
    :func:`schedule_metrics` for the shapes)."""
    return objective.values(schedule_metrics(b, W, fractions, fidelity.scale, fidelity.steps))


def _candidates(k: int, p: int, n_random: int, static: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(m, P, K)`` starts: Dirichlet(1) and Dirichlet(0.2) phases, the static optimum in every phase and in
    all but one phase (the other a vertex), and products of vertices when there are few."""
    eye = np.eye(k)
    parts = [rng.dirichlet(np.ones(k), (n_random, p)), rng.dirichlet(np.full(k, 0.2), (n_random, p)),
             np.repeat(static[None, None], p, axis=1)]
    for j in range(p):
        c = np.repeat(static[None, None], k, axis=0).repeat(p, axis=1)
        c[:, j] = eye
        parts.append(c)
    if k**p <= 4096:
        parts.append(np.array([eye[list(ix)] for ix in product(range(k), repeat=p)]))
    return np.concatenate(parts)


def schedule_optimum(b: "SyntheticBackend", fractions, fidelity: Fidelity, objective: Objective,
                     n_random: int = 20000, n_refine: int = 8, seed: int = 0) -> tuple[np.ndarray, float]:
    """Best P-phase schedule for fixed ``fractions (P,)`` at ``fidelity``: dense candidates on the product of
    simplices (including the best static mixture in every phase, so it never loses to it), the best
    ``n_refine`` refined by SLSQP (one equality per phase; weights below 1e-9 snapped to 0). Deterministic.

    Returns:
        ``(W (P, K), value)``.
    """
    f = np.asarray(fractions, dtype=float)
    if f.ndim != 1:
        raise BomixError(f"schedule_optimum takes one fractions vector (P,), got shape {f.shape}")
    k, p = b.space.k, f.size
    _check(b, np.full((1, p, k), 1.0 / k), f)

    def value(X: np.ndarray) -> np.ndarray:
        return schedule_values(b, X, f, fidelity, objective)

    static = b.optimum(objective, fidelity)[0].weights
    cand = _candidates(k, p, n_random, static, np.random.default_rng([seed, p, k]))
    vals = value(cand)
    best_i = int(np.argmin(vals))
    best_w, best_v = cand[best_i], float(vals[best_i])
    eq = [{"type": "eq", "fun": (lambda x, j=j: x[j * k:(j + 1) * k].sum() - 1.0)} for j in range(p)]
    h = 1e-7

    def fun_jac(x: np.ndarray) -> tuple[float, np.ndarray]:
        pts = np.vstack([x, x + h * np.eye(x.size)])
        pts = np.clip(pts, 0.0, None).reshape(-1, p, k)
        pts = pts / pts.sum(2, keepdims=True)
        v = value(pts)
        return float(v[0]), (v[1:] - v[0]) / h

    for start in cand[np.argsort(vals)[:n_refine]]:
        res = minimize(fun_jac, start.ravel(), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * (p * k),
                       constraints=eq, options={"ftol": 1e-13, "maxiter": 300})
        x = np.clip(res.x.reshape(p, k), 0.0, None)
        x = np.where(x < 1e-9, 0.0, x)
        x = x / x.sum(1, keepdims=True)
        v = float(value(x[None])[0])
        if v < best_v:
            best_w, best_v = x, v
    return best_w, best_v


def cached_optimum(b: "SyntheticBackend", fractions, fidelity: Fidelity,
                   objective: Objective) -> tuple[np.ndarray, float]:
    """:func:`schedule_optimum` cached on the backend per fractions, objective and fidelity (a copy of ``W``)."""
    key = f"{np.asarray(fractions, dtype=float).tolist()}|{objective.name}|{objective.key}|{fidelity}"
    cache = b.__dict__.setdefault("_schedule_optima", {})
    if key not in cache:
        cache[key] = schedule_optimum(b, fractions, fidelity, objective)
    W, v = cache[key]
    return W.copy(), v
