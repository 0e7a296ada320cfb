"""The reference every phased projection test compares with: SLSQP on the phases' polytope."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def reference_projection(s, y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The Euclidean projection of ``y (P*K,)`` onto the phased space ``s`` (fractions in their ranges, pinned
    phases fixed, whole-run bounds on ``sum_p x_{p,i}``), by SLSQP from ``start``."""
    n, k = s.k, s.base.k
    cons = [{"type": "eq", "fun": lambda x: x.sum() - 1}]
    for q, ph in enumerate(s.phases.phases):
        if ph.pinned:
            cons += [{"type": "eq", "fun": lambda x, j=j, v=v: x[j] - v}
                     for j, v in zip(range(k * q, k * q + k), ph.lo * ph.pinned_weights(s.base.domains))]
        cons += [{"type": "ineq", "fun": lambda x, q=q, lo=ph.lo: x[k * q:k * q + k].sum() - lo},
                 {"type": "ineq", "fun": lambda x, q=q, hi=ph.hi: hi - x[k * q:k * q + k].sum()}]
    lo, up = s.base.lower, s.base.upper
    for i in range(k):
        cons += [{"type": "ineq", "fun": lambda x, i=i: x[i::k].sum() - lo[i]},
                 {"type": "ineq", "fun": lambda x, i=i: up[i] - x[i::k].sum()}]
    return minimize(lambda x: ((x - y) ** 2).sum(), start, jac=lambda x: 2 * (x - y), constraints=cons,
                    bounds=[(0, 1)] * n, method="SLSQP", options={"ftol": 1e-15, "maxiter": 500}).x
