"""Noise a run shares along its curve: a per-run random effect in the GP's likelihood.

A training run's checkpoints are not independent measurements: its seed, data order and evaluation sample give
every checkpoint of the run one common offset, on top of a small noise per checkpoint. With iid noise only, a
run's 13 checkpoints look like 13 independent measurements of the mixture, and the GP's sd at a mixture that
has been run a few times falls far below the error its truth actually has. :class:`RunNoiseLikelihood` models the
observation noise as

    ``Sigma = sigma^2 I + v Z Z^T``,

with ``Z`` the ``n x G`` indicator of which run (group) each observation belongs to, and ``sigma^2`` and ``v``
fitted with the kernel's hyperparameters. A run is recognised by its inputs: the observations whose columns
other than the last (the steps ``t``) are equal, i.e. one mixture at one scale. A continuation of a run (the
same trajectory, more steps) is therefore the same run, as it should be; two runs of the same mixture at the
same scale with different seeds are also taken as one (rare in a campaign; conservative: their agreement
counts as one measurement).

It is noise, not signal: the posterior of the latent objective (what recommendations and acquisitions read)
carries no run effect, so a prediction at a run's own mixture is not pulled towards that run's offset.
"""

from __future__ import annotations

import torch
from gpytorch.constraints import GreaterThan, Interval
from gpytorch.likelihoods import GaussianLikelihood
from linear_operator.operators import (
    AddedDiagLinearOperator,
    LowRankRootLinearOperator,
    SumLinearOperator,
)

#: Bounds of the run-effect variance ``v`` (standardised outcome units).
RUN_VARIANCE_BOUNDS: tuple[float, float] = (1e-8, 4.0)
#: Starting run-effect variance (standardised units; the iid noise starts at GPyTorch's default).
RUN_VARIANCE_INIT = 1e-2


def run_groups(X: torch.Tensor) -> torch.Tensor:
    """``(..., n, G)`` 0/1 indicators of each observation's run for inputs ``(..., n, d)`` (a run = the same
    values in every column but the last); batches are padded to the largest number of runs ``G``."""
    flat = X.reshape(-1, *X.shape[-2:])
    inverses = [torch.unique(x[:, :-1], dim=0, return_inverse=True)[1] for x in flat]
    g = max(int(inv.max()) + 1 for inv in inverses) if inverses and X.shape[-2] else 1
    Z = torch.stack([torch.nn.functional.one_hot(inv, g) for inv in inverses]).to(X)
    return Z.reshape(*X.shape[:-2], X.shape[-2], g)


class RunNoiseLikelihood(GaussianLikelihood):
    """A ``GaussianLikelihood`` whose noise covariance at inputs ``X`` is ``sigma^2 I + v Z Z^T``
    (:func:`run_groups`).

    The marginal covariance is built as ``AddedDiag(K + v Z Z^T, sigma^2 I)``, so GPyTorch's solves keep the
    diagonal's preconditioner above its Cholesky size, as for iid noise. Called without inputs (some GPyTorch
    paths do), the noise is the iid part alone.
    """

    def __init__(self, min_noise: float):
        super().__init__(noise_constraint=GreaterThan(min_noise))
        self.register_parameter("raw_run_variance", torch.nn.Parameter(torch.zeros(1)))
        self.register_constraint("raw_run_variance", Interval(*RUN_VARIANCE_BOUNDS))
        self.run_variance = RUN_VARIANCE_INIT

    @property
    def run_variance(self) -> torch.Tensor:
        """``(1,)`` the run-effect variance ``v``."""
        return self.raw_run_variance_constraint.transform(self.raw_run_variance)

    @run_variance.setter
    def run_variance(self, value: float) -> None:
        raw = self.raw_run_variance_constraint.inverse_transform(torch.as_tensor(value).to(self.raw_run_variance))
        self.initialize(raw_run_variance=raw.reshape(1))

    def marginal(self, function_dist, *params, **kwargs):
        X = params[0] if params else None
        if isinstance(X, (list, tuple)):
            X = X[0] if X else None
        mean, covar = function_dist.mean, function_dist.lazy_covariance_matrix
        if not torch.is_tensor(X) or X.dim() < 2 or X.shape[-2] != mean.shape[-1]:
            return super().marginal(function_dist, *params, **kwargs)
        root = run_groups(X) * self.run_variance.to(X).sqrt()
        root = root.expand(*covar.shape[:-2], *root.shape[-2:])
        iid = self._shaped_noise_covar(mean.shape, *params, **kwargs)
        full = AddedDiagLinearOperator(SumLinearOperator(covar, LowRankRootLinearOperator(root)), iid)
        return function_dist.__class__(mean, full)
