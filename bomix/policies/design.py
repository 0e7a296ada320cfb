"""Initial designs: mixtures spread over the simplex before any model decides."""

from __future__ import annotations

import warnings

import numpy as np

from bomix.space import Fidelity, Space


def space_filling(space: Space, n: int, rng: np.random.Generator, fid: Fidelity | None = None) -> np.ndarray:
    """``(n, K)`` mixtures spread evenly over the simplex: a scrambled Sobol sequence mapped by uniform
    spacings (sorted coordinates), which is uniform on the simplex; bounded spaces sample instead."""
    from scipy.stats import qmc

    k = space.k
    if space.has_bounds(fid) or n < 1:
        return space.sample(n, rng, 1.0, fid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # n need not be a power of 2
        u = qmc.Sobol(d=k - 1, scramble=True, seed=rng).random(n)
    cuts = np.sort(u, axis=1)
    w = np.diff(np.column_stack([np.zeros(n), cuts, np.ones(n)]), axis=1)
    return space.project(w, fid)
