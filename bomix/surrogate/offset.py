"""A per-fidelity level offset for the GP: every fidelity's loss level is a nuisance of its own.

``k(x, x') = v * [s = s' and t = t']`` on the two fidelity columns of ``x = [w, s, t]``: each distinct
fidelity gets an independent constant offset with a learnt variance ``v``. The levels of two fidelities
differ by far more than the mixtures' effects at either (a 1B model's loss is nats below a 1M model's),
and a smooth kernel over ``(s, t)`` that has to explain those jumps learns short fidelity lengthscales,
which also cut the correlation of the mixture *effects* across fidelities: the part that transfers. With
the offset the smooth part models the level trend and the shape, and a fidelity nobody ran (the target,
early on) keeps an unknown level that decisions on contrasts (``bomix.acquisition.analytic.contrast``)
cancel instead of reading as information.
"""

from __future__ import annotations

import torch

from bomix.surrogate.variance_kernel import BoundedVarianceKernel

#: Bounds of the offset variance (standardised outcome units).
VARIANCE_BOUNDS: tuple[float, float] = (1e-4, 4.0)
#: Fidelity coordinates closer than this are the same fidelity.
SAME = 1e-9


class FidelityOffsetKernel(BoundedVarianceKernel):
    """``v * [same fidelity]`` over the last two input columns (``... x n x d`` inputs)."""

    def __init__(self, **kwargs):
        super().__init__(1, VARIANCE_BOUNDS, **kwargs)

    def covar(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool) -> torch.Tensor:
        f1, f2 = x1[..., -2:], x2[..., -2:]
        v = self.variance.to(x1)
        if diag:
            return ((f1 - f2).abs().amax(-1) < SAME).to(x1) * v
        same = ((f1.unsqueeze(-2) - f2.unsqueeze(-3)).abs().amax(-1) < SAME).to(x1)
        return same * v
