import numpy as np
import pytest
import torch
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.operators import AddedDiagLinearOperator

from bomix.surrogate.gp import GPConfig, build_gp, fit_gp
from bomix.surrogate.run_noise import RunNoiseLikelihood, run_groups

torch.set_num_threads(1)


def test_run_groups_marks_the_observations_of_one_mixture_at_one_scale_whatever_their_steps():
    x = torch.tensor([[0.2, 0.8, 0.0, 0.1], [0.2, 0.8, 0.0, 0.5], [0.2, 0.8, 0.5, 0.5], [0.6, 0.4, 0.0, 0.1]],
                     dtype=torch.double)
    Z = run_groups(x)
    assert Z.shape == (4, 3)
    same = Z @ Z.T
    assert torch.equal(same, torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                                          dtype=torch.double))
    batched = run_groups(torch.stack([x, torch.cat([x[:1]] * 4)]))  # batches pad to the largest count
    assert batched.shape == (2, 4, 3)
    assert torch.equal(batched[0] @ batched[0].T, same)
    assert torch.equal(batched[1] @ batched[1].T, torch.ones(4, 4, dtype=torch.double))


def test_run_noise_covariance_and_marginal_likelihood_are_the_block_model():
    x = torch.tensor([[0.2, 0.8, 0.0, 0.1], [0.2, 0.8, 0.0, 0.5], [0.6, 0.4, 0.0, 0.1]], dtype=torch.double)
    y = torch.tensor([[-1.0], [-0.8], [-1.3]], dtype=torch.double)
    m = build_gp(x, y, GPConfig(run_noise=True))
    lik = m.likelihood
    assert isinstance(lik, RunNoiseLikelihood)
    lik.noise = 0.01
    lik.run_variance = 0.3
    noise = 0.01 * torch.eye(3, dtype=torch.double) + 0.3 * torch.tensor(
        [[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.double)
    m.train()
    prior = m(x)
    marginal = lik(prior, x).lazy_covariance_matrix
    # kept an AddedDiag (GPyTorch preconditions its solves above the Cholesky size as for iid noise)
    assert isinstance(marginal, AddedDiagLinearOperator)
    assert torch.allclose(marginal.to_dense(), prior.covariance_matrix + noise)
    no_inputs = lik(prior).covariance_matrix  # called without inputs: the iid part alone
    assert torch.allclose(no_inputs, prior.covariance_matrix + 0.01 * torch.eye(3, dtype=torch.double))
    # the fit's objective is the Gaussian density under kernel + block noise
    mll = ExactMarginalLogLikelihood(lik, m)
    with torch.no_grad():
        got = float(mll(m(*m.train_inputs), m.train_targets, *m.train_inputs))
        dist = torch.distributions.MultivariateNormal(prior.mean, prior.covariance_matrix + noise)
    assert got == pytest.approx(float(dist.log_prob(m.train_targets)) / 3, rel=1e-6)


def test_run_noise_needs_inferred_noise():
    with pytest.raises(ValueError, match="run_noise needs inferred noise"):
        GPConfig(run_noise=True, fixed_noise=0.1)


def _runs(seed: int, n_runs: int = 8, n_ckpt: int = 10, run_sd: float = 0.05):
    """Runs at the target scale, each a curve of ``n_ckpt`` checkpoints sharing one offset (sd ``run_sd``)."""
    rng = np.random.default_rng(seed)
    w1 = rng.uniform(0, 1, n_runs)
    truth = lambda w, t: 2.5 + 0.3 * (w - 0.6) ** 2 + 0.4 * (1 - t)
    rows, ys = [], []
    for w, off in zip(w1, run_sd * rng.standard_normal(n_runs)):
        for t in np.linspace(0.1, 1.0, n_ckpt):
            rows.append([w, 1 - w, 1.0, t])
            ys.append(truth(w, t) + off + 0.002 * rng.standard_normal())
    X = torch.tensor(rows, dtype=torch.double)
    at_end = torch.tensor([[w, 1 - w, 1.0, 1.0] for w in w1], dtype=torch.double)
    return X, -torch.tensor(ys, dtype=torch.double).unsqueeze(-1), at_end, -truth(w1, 1.0)


def test_run_noise_keeps_the_sd_honest_where_runs_share_their_offsets():
    """With iid noise a run's checkpoints look like independent measurements and the GP trusts each run's
    offset; the run effect keeps the truth at the runs' mixtures within the predicted band."""
    z = {False: [], True: []}
    for seed in range(4):
        X, Y, at_end, truth = _runs(seed)
        for rn in (False, True):
            m = fit_gp(X, Y, GPConfig(level=True, run_noise=rn, maxiter=80))
            with torch.no_grad():
                post = m.posterior(at_end)
                z[rn] += ((torch.tensor(truth) - post.mean.squeeze(-1)) / post.variance.sqrt().squeeze(-1)).tolist()
    within = {rn: float(np.mean(np.abs(v) <= 2)) for rn, v in z.items()}
    assert within[True] >= 0.7, within
    assert within[True] > within[False] + 0.4, within
