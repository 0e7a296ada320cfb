"""The shared scaffolding of bomix's explicit-feature kernels: learnt variances in fixed bounds."""

from __future__ import annotations

import torch
from gpytorch.constraints import Interval
from gpytorch.kernels import Kernel


class BoundedVarianceKernel(Kernel):
    """A kernel with ``n`` learnt variances (parameter ``raw_variance``, constrained to ``bounds``) and no
    lengthscale; subclasses compute the covariance in :meth:`covar` (``last_dim_is_batch`` is refused).

    Args:
        n: number of variances. bounds: ``(low, high)`` of each (standardised outcome units).
    """

    has_lengthscale = False

    def __init__(self, n: int, bounds: tuple[float, float], **kwargs):
        super().__init__(**kwargs)
        self.register_parameter("raw_variance", torch.nn.Parameter(torch.zeros(int(n))))
        self.register_constraint("raw_variance", Interval(*bounds))

    @property
    def variance(self) -> torch.Tensor:
        return self.raw_variance_constraint.transform(self.raw_variance)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, last_dim_is_batch: bool = False,
                **params) -> torch.Tensor:
        if last_dim_is_batch:
            raise NotImplementedError(f"{type(self).__name__} does not support last_dim_is_batch")
        return self.covar(x1, x2, diag)

    def covar(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool) -> torch.Tensor:
        """``... x n x m`` covariances of ``... x n x d`` and ``... x m x d`` inputs (``... x n`` if ``diag``)."""
        raise NotImplementedError
