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
                  n_refine: int = 10, seed: int = 0) -> tuple[np.ndarray, float]:
    """Minimise ``f`` over the simplex.

    Args:
        f: vectorised objective, ``(n, k) -> (n,)``.
        k: number of weights.
        n_random: Dirichlet draws of each kind (alpha 1 and alpha 0.2).
        n_refine: best candidates refined by SLSQP.

    Returns:
        ``(w (k,), value)`` with ``w`` on the simplex (exact zeros where a weight is negligible).
    """
    rng = np.random.default_rng(seed)
    eye = np.eye(k)
    faces = [eye[list(c)].mean(0) for r in range(2, k) for c in combinations(range(k), r)] if k <= 8 else []
    cand = np.vstack([rng.dirichlet(np.ones(k), n_random), rng.dirichlet(np.full(k, 0.2), n_random), eye,
                      *([np.array(faces)] if faces else [])])
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


def _snap(x: np.ndarray) -> np.ndarray:
    x = np.where(x < ZERO, 0.0, x)
    return x / x.sum()
