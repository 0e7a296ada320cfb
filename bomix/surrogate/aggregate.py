"""One GP per metric, read as the GP of their aggregate: the objective of many metrics is affine in them.

With ``value = offset + sum_m c_m metric_m`` (:meth:`bomix.objective.Objective.coefficients`) and independent GPs
``f_m`` of ``-metric_m`` (each with its own noise level and lengthscales), the GP policies' outcome ``Y = -value``
has the Gaussian posterior

    mean = -offset + sum_m c_m mean_m(X),     cov = sum_m c_m^2 cov_m(X, X'),

which :class:`AggregateModel` returns as one BoTorch posterior, so every acquisition, fantasy and prediction of the
GP policies reads it as it reads a single GP. Measured on held-out runs (``benchmarks/joint_metrics.py``, 10 seeds,
32-128 training runs): on RegMix's 13 validation losses it ranks held-out mixtures at Spearman 0.78-0.94 where one
GP of the aggregate reaches 0.50-0.75 (RMSE 0.045-0.024 vs 0.061-0.042); on the synthetic 13-metric objective
0.86-0.96 vs 0.72-0.89.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal

from bomix.acquisition.analytic import noise_variance


class AggregateLikelihood(torch.nn.Module):
    """What :func:`bomix.acquisition.analytic.noise_variance` reads: the aggregate's noise variance."""

    def __init__(self, noise: torch.Tensor):
        super().__init__()
        self.register_buffer("noise", noise)


class AggregateModel(Model):
    """``Y = -offset + sum_m c_m f_m`` of fitted single-output GPs ``f_m`` (module docstring).

    Args:
        models: one fitted GP per metric, each of ``-metric`` (``n x d -> n x 1``).
        coef: ``(M,)`` the objective's coefficients ``c_m``.
        offset: the objective's constant.
    """

    def __init__(self, models: Sequence[Model], coef: Sequence[float], offset: float):
        super().__init__()
        self.models = torch.nn.ModuleList(models)
        self.register_buffer("coef", torch.as_tensor(list(coef), dtype=torch.double))
        self.offset = float(offset)
        noise = sum(c ** 2 * noise_variance(m) for c, m in zip(self.coef, self.models))
        self.likelihood = AggregateLikelihood(torch.as_tensor(noise, dtype=torch.double).reshape(1))
        self.outcome_transform = None

    @property
    def num_outputs(self) -> int:
        return 1

    def posterior(self, X: torch.Tensor, output_indices=None, observation_noise: bool = False,
                  posterior_transform=None, **kwargs) -> GPyTorchPosterior:
        """``X (..., q, d)`` -> the aggregate's joint posterior over the ``q`` points (mean ``(..., q, 1)``)."""
        mean, cov = None, None
        for c, m in zip(self.coef, self.models):
            mvn = m.posterior(X, observation_noise=observation_noise).mvn
            mean = c * mvn.mean if mean is None else mean + c * mvn.mean
            part = mvn.lazy_covariance_matrix * (c ** 2)
            cov = part if cov is None else cov + part
        post = GPyTorchPosterior(MultivariateNormal(mean - self.offset, cov))
        return post if posterior_transform is None else posterior_transform(post)

    def condition_on_observations(self, X: torch.Tensor, Y: torch.Tensor, **kwargs) -> "AggregateModel":
        """The kriging believer, metric by metric: each GP conditioned on its own posterior mean at ``X`` (``Y``,
        the aggregate's mean there, is what that gives)."""
        with torch.no_grad():
            conditioned = [m.condition_on_observations(X, m.posterior(X).mean, **kwargs) for m in self.models]
        return AggregateModel(conditioned, self.coef.tolist(), self.offset)
