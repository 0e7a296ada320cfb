"""AggregateModel: the posterior of sum_m c_m f_m of independent GPs, fantasies metric by metric."""

import numpy as np
import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from bomix.acquisition.analytic import noise_variance
from bomix.surrogate.aggregate import AggregateModel


def fitted(X, y):
    m = SingleTaskGP(X, y, outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(m.likelihood, m))
    return m.eval()


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    X = torch.rand(20, 3, dtype=torch.double)
    y1 = (X ** 2).sum(-1, keepdim=True) + 0.01 * torch.randn(20, 1, dtype=torch.double)
    y2 = 10 * X[:, :1] + 0.1 * torch.randn(20, 1, dtype=torch.double)
    return X, [fitted(X, y1), fitted(X, y2)]


def test_posterior_is_the_weighted_sum_with_summed_covariances(models):
    X, (m1, m2) = models
    agg = AggregateModel([m1, m2], [0.5, -2.0], offset=1.5)
    Xq = torch.rand(4, 5, 3, dtype=torch.double)  # 4 batches of q = 5 points
    post = agg.posterior(Xq)
    p1, p2 = m1.posterior(Xq), m2.posterior(Xq)
    assert post.mean.shape == (4, 5, 1)
    torch.testing.assert_close(post.mean, 0.5 * p1.mean - 2.0 * p2.mean - 1.5)
    cov = post.mvn.covariance_matrix
    torch.testing.assert_close(cov, 0.25 * p1.mvn.covariance_matrix + 4.0 * p2.mvn.covariance_matrix)
    noisy = agg.posterior(Xq, observation_noise=True).variance
    assert torch.all(noisy > post.variance)
    assert agg.likelihood.noise.item() == pytest.approx(0.25 * noise_variance(m1).item() + 4 * noise_variance(m2).item())


def test_fantasies_condition_every_metric_at_its_own_mean(models):
    X, (m1, m2) = models
    agg = AggregateModel([m1, m2], [1.0, 1.0], offset=0.0)
    Xf = torch.tensor([[0.9, 0.9, 0.9]], dtype=torch.double)
    before = agg.posterior(Xf)
    cond = agg.condition_on_observations(Xf, before.mean.squeeze(-2))
    after = cond.posterior(Xf)
    torch.testing.assert_close(after.mean, before.mean, atol=1e-6, rtol=1e-6)
    assert after.variance.item() < 0.6 * before.variance.item()  # both metrics now know that point
    each = [m.condition_on_observations(Xf, m.posterior(Xf).mean).posterior(Xf).variance for m in (m1, m2)]
    torch.testing.assert_close(after.variance, each[0] + each[1])
