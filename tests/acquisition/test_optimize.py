import numpy as np
import pytest
import torch
from scipy.stats import norm

from bomix.acquisition.analytic import log_ei
from bomix.acquisition.cost import grid_cost_model
from bomix.acquisition.optimize import OptimizerConfig, maximize, maximize_logits
from bomix.backends.synthetic import SyntheticBackend

SMOKE = OptimizerConfig(raw_samples=32, starts=3, iters=15)


def _linear(c: np.ndarray):
    ct = torch.tensor(c, dtype=torch.double)
    return lambda W, g: W @ ct


def test_maximize_reaches_exact_zeros_on_a_face(space):
    # maximum of w0 + w1 - w2 - w3 over the simplex: every point of the face w2 = w3 = 0
    w, gi, val = maximize(_linear(np.array([1.0, 1.0, -1.0, -1.0])), space, [space.target],
                          np.random.default_rng(0), SMOKE)
    assert gi == 0 and val == pytest.approx(1.0)
    assert w[2] == 0.0 and w[3] == 0.0 and w.sum() == pytest.approx(1.0)


def test_maximize_follows_the_gradient_to_an_interior_optimum(space):
    target = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.double)
    w, _, _ = maximize(lambda W, g: -((W - target) ** 2).sum(-1), space, [space.target],
                       np.random.default_rng(1), OptimizerConfig(raw_samples=16, starts=2, iters=60))
    np.testing.assert_allclose(w, target.numpy(), atol=0.02)


def test_maximize_respects_bounds_and_picks_the_fidelity(synthetic):
    space = synthetic.space.with_constraints(lower={"d0": 0.2}, upper={"d1": 0.3})
    fids = space.fidelity_grid()[:3]
    bonus = torch.tensor([0.0, 5.0, 0.0], dtype=torch.double)
    acq = lambda W, g: W[:, 1] + bonus[torch.as_tensor(g)]  # noqa: E731
    w, gi, val = maximize(acq, space, fids, np.random.default_rng(2), SMOKE)
    assert gi == 1
    assert space.feasible(w[None])[0]
    assert w[1] == pytest.approx(0.3) and w[0] >= 0.2 - 1e-9


def test_maximize_logits_returns_a_feasible_mixture(space):
    w, gi, val = maximize_logits(_linear(np.array([0.0, 0.0, 1.0, 0.0])), space, [space.target],
                                 np.random.default_rng(0), restarts=2, raw_samples=16)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert w[2] > 0.99  # softmax over logits in [-3, 3] gets close to, not onto, the vertex


def test_log_ei_matches_the_closed_form():
    mu, sd, best = torch.tensor([0.3, -1.0, 2.0]), torch.tensor([0.5, 0.2, 1.0]), 0.5
    u = (mu - best) / sd
    ei = sd * (u * norm.cdf(u) + norm.pdf(u))
    np.testing.assert_allclose(log_ei(mu.double(), sd.double(), best).exp().numpy(), ei.numpy(), rtol=1e-6)


def test_grid_cost_model_matches_the_problem_cost(synthetic):
    space = synthetic.space
    grid = space.fidelity_grid()
    X = torch.tensor(np.vstack([space.encode(space.center().weights, f.scale, f.steps) for f in grid]))
    got = grid_cost_model(space, synthetic.cost_model)(X).squeeze(-1).numpy()
    np.testing.assert_allclose(got, [synthetic.cost_model.of(f) for f in grid])


def test_maximize_on_a_64_domain_simplex_is_feasible_and_climbs():
    """Many domains (issue 23): the search returns a point on the 64-simplex within the bounds, and the
    ascent improves on the raw candidates of a smooth interior objective."""
    from bomix.space import Space

    sb = SyntheticBackend(k=64, seed=0)
    space = sb.space.with_constraints(lower={"d0": 0.05}, upper={"d1": 0.01, "d2": 0.02})
    target = torch.tensor(np.random.default_rng(3).dirichlet(np.ones(64)), dtype=torch.double)
    acq = lambda W, g: -((W - target) ** 2).sum(-1)  # noqa: E731
    cfg = OptimizerConfig(raw_samples=64, starts=3, iters=30)
    w, gi, val = maximize(acq, space, [space.target], np.random.default_rng(0), cfg)
    assert isinstance(space, Space) and w.shape == (64,) and gi == 0
    assert w.sum() == pytest.approx(1.0) and (w >= -1e-12).all()
    assert space.feasible(w[None])[0] and w[0] >= 0.05 - 1e-9 and w[1] <= 0.01 + 1e-9 and w[2] <= 0.02 + 1e-9
    raw = space.project(space.sample(64, np.random.default_rng(0), 1.0, space.target), space.target)
    assert val > float(acq(torch.tensor(raw), None).max())
