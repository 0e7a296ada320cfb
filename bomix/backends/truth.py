"""Ground-truth optimum of a simulator: dense search on the simplex plus local refinement.

Simulator optima often sit on the simplex boundary, so the search includes vertices, edge midpoints
and face centres and Dirichlet draws near the faces, and the refinement (SLSQP on the simplex)
snaps negligible weights to exact zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import numpy as np
from scipy.optimize import minimize

ZERO = 1e-9


def dense_optimum(f: Callable[[np.ndarray], np.ndarray], k: int, n_random: int = 30000,
                  n_refine: int = 10, seed: int = 0,
                  slack: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """Minimise ``f`` over the simplex (where ``slack >= 0``, with outcome constraints).

    Args:
        f: vectorised objective, ``(n, k) -> (n,)``.
        k: number of weights.
        n_random: Dirichlet draws of each kind (alpha 1 and alpha 0.2).
        n_refine: best candidates refined by SLSQP.
        slack: vectorised constraint slacks, ``(n, k) -> (n, c)``, feasible where all are ``>= 0``; None = none.

    Returns:
        ``(w (k,), value)`` with ``w`` on the simplex (exact zeros where a weight is negligible); with ``slack``,
        ``(None, nan)`` when no candidate is feasible.
    """
    if slack is not None:
        return _constrained_optimum(f, slack, k, n_random, n_refine, seed)
    cand = _candidates(k, n_random, np.random.default_rng(seed))
    vals = f(cand)
    best_w, best_v = cand[int(np.argmin(vals))], float(np.min(vals))
    for start in cand[np.argsort(vals)[:n_refine]]:
        res = minimize(lambda x: float(f(x[None])[0]), start, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0}],
                       options={"ftol": 1e-12, "maxiter": 300})
        x = _snap(res.x)
        v = float(f(x[None])[0])
        if v < best_v:
            best_w, best_v = x, v
    return best_w, best_v


def _candidates(k: int, n_random: int, rng: np.random.Generator) -> np.ndarray:
    eye = np.eye(k)
    faces = [eye[list(c)].mean(0) for r in range(2, k) for c in combinations(range(k), r)] if k <= 8 else []
    return np.vstack([rng.dirichlet(np.ones(k), n_random), rng.dirichlet(np.full(k, 0.2), n_random), eye,
                      *([np.array(faces)] if faces else [])])


def _constrained_optimum(f, slack, k: int, n_random: int, n_refine: int, seed: int):
    """:func:`dense_optimum` under ``slack(W) >= 0``: the best feasible candidates refined by SLSQP with the
    slacks as inequality constraints (a refined point is kept only if it is feasible)."""
    cand = _candidates(k, n_random, np.random.default_rng(seed))
    ok = (slack(cand) >= 0).all(axis=1)
    if not ok.any():
        return None, float("nan")
    cand = cand[ok]
    vals = f(cand)
    best_w, best_v = cand[int(np.argmin(vals))], float(np.min(vals))
    for start in cand[np.argsort(vals)[:n_refine]]:
        res = minimize(lambda x: float(f(x[None])[0]), start, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0},
                                    {"type": "ineq", "fun": lambda x: slack(x[None])[0]}],
                       options={"ftol": 1e-12, "maxiter": 300})
        x = _snap(np.clip(res.x, 0, None))
        if not (slack(x[None])[0] >= 0).all():
            continue
        v = float(f(x[None])[0])
        if v < best_v:
            best_w, best_v = x, v
    return best_w, best_v


def _snap(x: np.ndarray) -> np.ndarray:
    x = np.where(x < ZERO, 0.0, x)
    return x / x.sum()


def trusted_optimum(f: Callable[[np.ndarray], np.ndarray], centres: np.ndarray, radius: float,
                    n_random: int = 20000, n_refine: int = 10, seed: int = 0) -> tuple[np.ndarray, float]:
    """Minimise ``f`` over the part of the simplex within TV distance ``radius`` of a centre.

    Candidates: the centres, and per draw a random centre ``c`` moved toward a Dirichlet(1), Dirichlet(0.2)
    or vertex direction ``d``: ``(1 - l) c + l d`` with ``TV = l * TV(d, c) <= radius``, half of them on the
    region's boundary. The best are refined by SLSQP under ``TV(x, c) <= radius`` for their nearest centre.

    Args:
        f: vectorised objective, ``(n, k) -> (n,)``.
        centres: ``(m, k)`` logged mixtures.
        radius: trusted TV distance (> 0).

    Returns:
        ``(w (k,), value)``, ``w`` inside the region.
    """
    from bomix.proposals import tv_distance

    C = np.atleast_2d(np.asarray(centres, dtype=float))
    m, k = C.shape
    rng = np.random.default_rng(seed)
    n3 = max(1, n_random // 3)
    D = np.vstack([rng.dirichlet(np.ones(k), n3), rng.dirichlet(np.full(k, 0.2), n3),
                   np.eye(k)[rng.integers(k, size=n3)]])
    c = C[rng.integers(m, size=len(D))]
    tv = 0.5 * np.abs(D - c).sum(1)
    lmax = np.minimum(1.0, radius / np.maximum(tv, 1e-12))
    lam = np.where(rng.random(len(D)) < 0.5, lmax, rng.uniform(0, 1, len(D)) * lmax)
    cand = np.vstack([C, (1 - lam[:, None]) * c + lam[:, None] * D])
    vals = f(cand)
    best_w, best_v = cand[int(np.argmin(vals))], float(np.min(vals))
    for start in cand[np.argsort(vals)[:n_refine]]:
        cj = C[int(np.argmin(0.5 * np.abs(C - start).sum(1)))]
        res = minimize(lambda x: float(f(x[None])[0]), start, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0},
                                    {"type": "ineq", "fun": lambda x, cj=cj: radius - 0.5 * np.abs(x - cj).sum()}],
                       options={"ftol": 1e-12, "maxiter": 300})
        x = _snap(np.clip(res.x, 0, None))
        if tv_distance(x[None], C)[0] > radius + 1e-9:
            continue
        v = float(f(x[None])[0])
        if v < best_v:
            best_w, best_v = x, v
    return best_w, best_v


def constrained_optimum(backend, objective, constraints, fidelity=None) -> tuple[np.ndarray | None, float]:
    """Best mixture of a simulator's truth at ``fidelity`` (default the target) under outcome ``constraints``
    (:class:`bomix.constraints.OutcomeConstraint`): by :func:`dense_optimum` on :meth:`true_values` over the whole
    simplex (a trust region is not applied), or, for a pool simulator, the best feasible pool point at ``fidelity``.
    ``(None, nan)`` when no mixture found is feasible."""
    from bomix.objective import Objective

    fid = fidelity or backend.space.target
    metrics = [Objective.metric(c.metric) for c in constraints]

    def slack(W: np.ndarray) -> np.ndarray:
        return np.column_stack([c.slack(backend.true_values(W, fid, m)) for c, m in zip(constraints, metrics)])

    pool = backend.candidates()
    if pool is not None:
        W = np.array([m.weights for m, f in pool if f == fid]).reshape(-1, backend.space.k)
        vals = backend.true_values(W, fid, objective) if len(W) else np.zeros(0)
        ok = np.isfinite(vals) & (slack(W) >= 0).all(axis=1) if len(W) else np.zeros(0, dtype=bool)
        if not ok.any():
            return None, float("nan")
        i = int(np.flatnonzero(ok)[np.argmin(vals[ok])])
        return W[i], float(vals[i])
    return dense_optimum(lambda W: backend.true_values(W, fid, objective), backend.space.k, slack=slack)
