"""A mixing-law basis for the GP: parametric structure that extrapolates across mixtures and scale.

The basis ``phi(x)`` of ``x = [w_1..w_K, s, t]`` holds the terms of the usual mixing and scaling laws,
linearised:

- ``w_i`` (a linear, DML/RegMix-linear-style effect of each domain; the sum is the intercept),
- ``w_i^2`` (diminishing returns: a convex loss in each weight, so optima may lie inside the simplex),
- ``w_i * s`` and ``w_i * t`` (the optimum moves with model scale and training length),
- ``exp(-a s)``, ``exp(-a t)`` for a few rates ``a`` (Chinchilla's ``A / N^alpha + B / D^beta``: with
  ``s = log(N / N_min) / log(N_target / N_min)``, ``N^-alpha`` is ``exp(-alpha log(N_target/N_min) s)``).

:class:`LawKernel` is the Bayesian linear model on this basis, ``k(x, x') = sum_g v_g phi_g(x)^T phi_g(x')``
with one learnable variance per group ``g`` (Rasmussen & Williams 2006, sec. 2.7: a GP with explicit basis
functions). Added to a stationary kernel, the posterior mean is the law fitted to all data plus a GP
correction, and the posterior sd includes the uncertainty of the law's coefficients: far from data the
model follows the law, and a direction the data do not identify (a vertex nobody ran) stays uncertain
instead of confidently best.
"""

from __future__ import annotations

import torch

from bomix.surrogate.variance_kernel import BoundedVarianceKernel

#: Rates of the exponential fidelity terms (per unit of the [0, 1] scale/step coordinates).
FIDELITY_RATES: tuple[float, ...] = (1.0, 3.0)
#: Bounds of each group's prior variance (standardised outcome units): a feature the data do not identify
#: (e.g. a scale term when only one scale was run) cannot blow its variance up and the kernel matrix with it.
VARIANCE_BOUNDS: tuple[float, float] = (1e-6, 4.0)
#: Names of the basis groups, each with its own variance.
GROUPS: tuple[str, ...] = ("linear", "quadratic", "scale_shift", "step_shift", "fidelity")


def law_features(X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(phi, group)``: ``... x n x p`` basis values of ``... x n x (k + 2)`` inputs and ``(p,)`` group ids."""
    w, s, t = X[..., :k], X[..., k:k + 1], X[..., k + 1:k + 2]
    fid = [torch.exp(-a * s) for a in FIDELITY_RATES] + [torch.exp(-a * t) for a in FIDELITY_RATES]
    phi = torch.cat([w, w ** 2, w * s, w * t, *fid], dim=-1)
    group = torch.cat([torch.full((k,), g, dtype=torch.long) for g in range(4)]
                      + [torch.full((len(fid),), 4, dtype=torch.long)])
    return phi, group


class LawKernel(BoundedVarianceKernel):
    """``sum_g v_g phi_g(x1)^T phi_g(x2)`` over the mixing-law basis (see the module docstring).

    Args:
        k: number of domains (inputs have ``k + 2`` columns).
    """

    def __init__(self, k: int, **kwargs):
        super().__init__(len(GROUPS), VARIANCE_BOUNDS, **kwargs)
        self.k = int(k)

    def covar(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool) -> torch.Tensor:
        p1, g = law_features(x1, self.k)
        p2, _ = law_features(x2, self.k)
        scale = self.variance.to(p1)[g.to(p1.device)].sqrt()
        p1, p2 = p1 * scale, p2 * scale
        if diag:
            return (p1 * p2).sum(-1)
        return p1 @ p2.transpose(-1, -2)
