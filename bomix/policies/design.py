"""Initial designs: mixtures spread over the simplex before any model decides."""

from __future__ import annotations

import warnings

import numpy as np

from bomix.space import Fidelity, Space

#: Range of the total Dirichlet concentration of :func:`space_filling`: the lowest as an absolute total, the highest
#: as a multiple of K. From sparse mixtures (a few domains carry most weight: alpha_i = 1/K each at the low end)
#: through uniform on the simplex (K) to mixtures near the prior (2K).
CONCENTRATION = (1.0, 2.0)
#: The designs :func:`space_filling` draws: ``dirichlet`` (the range of concentrations above) or ``simplex`` (uniform on
#: the simplex, mfbo's design until 2026-12-06).
DESIGNS = ("dirichlet", "simplex")


def space_filling(space: Space, n: int, rng: np.random.Generator, fid: Fidelity | None = None,
                  prior: np.ndarray | None = None, concentration: tuple[float, float] = CONCENTRATION,
                  kind: str = "dirichlet") -> np.ndarray:
    """``(n, K)`` mixtures ``w ~ Dir(c * prior)`` (``prior`` uniform by default), low-discrepancy: a scrambled
    Sobol sequence in K + 1 dimensions whose first coordinate sets the total concentration ``c`` (log-uniform
    between ``concentration[0]`` and ``concentration[1] * K``, where ``concentration[0]`` is an absolute total)
    and whose others go through the Gamma inverse CDF. Bounded spaces sample instead.

    Why a range of concentrations: in K dimensions the uniform distribution on the simplex (``c = K``) puts
    each weight near 1/K (max weight about ``H_K / K``: 0.2 at K = 17), so mixtures that concentrate on a few
    domains, where optima often are, are almost never drawn; RegMix's design (Dirichlet draws at 15 log-spaced
    concentrations) covers them. Measured on the README demo's problem (17 domains; mfbo's GP recommending from
    the design alone, 5 seeds, ``benchmarks/initial_design.py``): median target regret 0.059 / 0.047 / 0.057 after
    128 / 256 / 500 runs at 1M with this design, 0.117 / 0.097 / 0.081 with uniform Sobol points (RegMix's
    design: 0.048 / 0.046 / 0.045).

    ``kind="simplex"``: uniform on the simplex instead (a scrambled Sobol sequence in K - 1 dimensions mapped by
    uniform spacings; ``prior`` and ``concentration`` unused). On MFMS (7 domains, no token counts) it is the better
    design for mfbo (benchmarks/README, section 4, "MF-BO speedup, initial design")."""
    from scipy.stats import gamma, qmc

    if kind not in DESIGNS:
        raise ValueError(f"unknown initial design {kind!r}: use one of {', '.join(DESIGNS)}")
    k = space.k
    if space.has_bounds(fid) or n < 1:
        return space.sample(n, rng, 1.0, fid)
    if kind == "simplex":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cuts = np.sort(qmc.Sobol(d=k - 1, scramble=True, seed=rng).random(n), axis=1)
        return space.project(np.diff(np.column_stack([np.zeros(n), cuts, np.ones(n)]), axis=1), fid)
    p = np.full(k, 1.0 / k) if prior is None else np.asarray(prior, dtype=float) / np.sum(prior)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # n need not be a power of 2
        u = qmc.Sobol(d=k + 1, scramble=True, seed=rng).random(n)
    lo, hi = np.log(concentration[0]), np.log(concentration[1] * k)
    c = np.exp(lo + u[:, 0] * (hi - lo))
    g = gamma.ppf(np.clip(u[:, 1:], 1e-12, 1 - 1e-12), np.maximum(c[:, None] * p[None], 1e-3))
    g = np.maximum(g, 1e-300)
    w = g / g.sum(1, keepdims=True)
    return space.project(w, fid)
