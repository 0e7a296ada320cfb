"""A mixing-law basis for the GP: parametric structure that extrapolates across mixtures and scale.

The basis ``phi(x)`` of ``x = [w_1..w_K, s, t]`` holds the terms of the usual mixing and scaling laws,
linearised:

- ``w_i`` (a linear, DML/RegMix-linear-style effect of each domain; the sum is the intercept),
- ``w_i^2`` (diminishing returns: a convex loss in each weight, so optima may lie inside the simplex),
- ``w_i * s`` and ``w_i * t`` (the optimum moves with model scale and training length),
- ``exp(-a s)``, ``exp(-a t)`` for a few rates ``a`` (Chinchilla's ``A / N^alpha + B / D^beta``: with
  ``s = log(N / N_min) / log(N_target / N_min)``, ``N^-alpha`` is ``exp(-alpha log(N_target/N_min) s)``),
- optionally (``log_terms``) ``log(w_i + LOG_EPS)``: a loss that falls with the log of each domain's share
  (a per-domain power law in its token count, the log-contrast model of mixture experiments), whose
  optimum lies inside the simplex wherever several domains help.

Prior variances: a group the data cannot identify (the target-specific shifts ``w_i * t`` before any run
at the target's length) keeps its starting variance under type-II maximum likelihood (the likelihood is
flat in it). The shift groups can therefore start at ``shift_init`` (mfbo: 0.01), small against the
standardised outcome (whose variance is dominated by the loss level's change across fidelities): the
prior says that the mixture effects mostly transfer across scale (RegMix's rank invariance) and data
showing otherwise raise it. Started at the middle of its bounds, an unidentified shift has a prior sd of
~1.4 outcome sds times ``||w||``, largest at the vertices, and EI at the target then chases vertices.

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
GROUPS: tuple[str, ...] = ("linear", "quadratic", "scale_shift", "step_shift", "fidelity", "log")
#: Groups whose variance starts at ``shift_init`` (the others start at the middle of ``VARIANCE_BOUNDS``).
SHIFT_GROUPS: tuple[str, ...] = ("scale_shift", "step_shift")
#: ``log(w + LOG_EPS)``: keeps the log-share terms finite at a zero weight.
LOG_EPS = 1e-2


def check_shift_init(value: float) -> float:
    """``value`` as a float if it lies strictly inside ``VARIANCE_BOUNDS``, else a one-line ValueError."""
    v = float(value)
    if not VARIANCE_BOUNDS[0] < v < VARIANCE_BOUNDS[1]:
        raise ValueError(f"law_shift_init must lie inside {VARIANCE_BOUNDS} (standardised outcome units; the law "
                         f"kernel's shift_init), got {v}")
    return v


def law_features(X: torch.Tensor, k: int, log_terms: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(phi, group)``: ``... x n x p`` basis values of ``... x n x (k + 2)`` inputs and ``(p,)`` indices
    into ``GROUPS`` (the ``log`` group only with ``log_terms``)."""
    w, s, t = X[..., :k], X[..., k:k + 1], X[..., k + 1:k + 2]
    fid = [torch.exp(-a * s) for a in FIDELITY_RATES] + [torch.exp(-a * t) for a in FIDELITY_RATES]
    parts = [w, w ** 2, w * s, w * t, *fid] + ([torch.log(w.clamp_min(0.0) + LOG_EPS)] if log_terms else [])
    sizes = [k, k, k, k, len(fid)] + ([k] if log_terms else [])
    group = torch.cat([torch.full((n,), g, dtype=torch.long) for g, n in enumerate(sizes)])
    return torch.cat(parts, dim=-1), group


class LawKernel(BoundedVarianceKernel):
    """``sum_g v_g phi_g(x1)^T phi_g(x2)`` over the mixing-law basis (see the module docstring).

    Args:
        k: number of domains (inputs have ``k + 2`` columns).
        log_terms: add the ``log(w_i + LOG_EPS)`` group.
        shift_init: starting variance of the shift groups (None: the middle of ``VARIANCE_BOUNDS``, like the
            others).
    """

    def __init__(self, k: int, log_terms: bool = False, shift_init: float | None = None, **kwargs):
        n = len(GROUPS) if log_terms else len(GROUPS) - 1
        super().__init__(n, VARIANCE_BOUNDS, **kwargs)
        self.k = int(k)
        self.log_terms = bool(log_terms)
        if shift_init is not None:
            raw = self.raw_variance_constraint.inverse_transform(torch.tensor(check_shift_init(shift_init)))
            with torch.no_grad():
                for g in SHIFT_GROUPS:
                    self.raw_variance[GROUPS.index(g)] = raw

    def covar(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool) -> torch.Tensor:
        p1, g = law_features(x1, self.k, self.log_terms)
        p2, _ = law_features(x2, self.k, self.log_terms)
        scale = self.variance.to(p1)[g.to(p1.device)].sqrt()
        p1, p2 = p1 * scale, p2 * scale
        if diag:
            return (p1 * p2).sum(-1)
        return p1 @ p2.transpose(-1, -2)
