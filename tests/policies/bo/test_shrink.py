"""``rec_shrink``: a GP policy's recommendation moved towards the prior mixture as far as its posterior allows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.posteriors import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal

from bomix.errors import BomixError
from bomix.laws.regmix import design_prior
from bomix.policies.bo import MFBOPolicy
from bomix.policies.bo.shrink import segment, shrink

from bo_helpers import SMALL
from test_evidence import _clustered_history


class BrownianShift:
    """A posterior (of the maximised objective) along the segment prior -> argmax (K = 2, prior (0.5, 0.5), argmax
    (1, 0)): with ``u = 1 - l``, mean ``-a u`` and ``f = mean + s W(u)`` for a Brownian motion ``W``, so the argmax's
    advantage at ``l`` is ``a u`` with sd ``s sqrt(u)``: within ``z`` sds exactly for ``l >= 1 - (z s / a)^2``."""

    def __init__(self, a: float, s: float):
        self.a, self.s = a, s

    def posterior(self, X: torch.Tensor) -> GPyTorchPosterior:
        u = 1.0 - 2.0 * (X[:, 0] - 0.5)
        cov = self.s**2 * torch.minimum(u[:, None], u[None, :]) + 1e-12 * torch.eye(len(u), dtype=X.dtype)
        return GPyTorchPosterior(MultivariateNormal(-self.a * u, cov))


PRIOR, ARGMAX = np.array([0.5, 0.5]), np.array([1.0, 0.0])


def test_segment_runs_from_the_prior_to_the_argmax():
    lams, W = segment(PRIOR, ARGMAX, 5)
    assert lams.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert np.allclose(W[0], PRIOR) and np.allclose(W[-1], ARGMAX) and np.allclose(W.sum(1), 1.0)


@pytest.mark.parametrize("z, lam", [(0.5, 0.75), (1.0, 0.0), (0.25, 0.95)])
def test_moves_to_the_point_nearest_the_prior_within_z_sds(z, lam):
    s = shrink(BrownianShift(a=1.0, s=1.0), lambda W: W, PRIOR, ARGMAX, z)
    assert s.lam == pytest.approx(lam)
    assert np.allclose(s.weights, PRIOR + lam * (ARGMAX - PRIOR))
    assert s.advantage == pytest.approx(1.0 - lam) and s.advantage <= z * s.sd + 1e-9


def test_stays_at_the_argmax_when_the_evidence_pins_the_difference():
    s = shrink(BrownianShift(a=1.0, s=1e-3), lambda W: W, PRIOR, ARGMAX, 2.0)
    assert s.lam == 1.0 and np.allclose(s.weights, ARGMAX)
    assert shrink(BrownianShift(a=1.0, s=1.0), lambda W: W, PRIOR, ARGMAX, 0.0).lam == 1.0  # z = 0: the argmax


def test_a_bump_beyond_the_point_keeps_the_recommendation_further_out():
    class Bump(BrownianShift):  # confidently worse around l = 0.5: the rule may not jump across it
        def posterior(self, X):
            p = super().posterior(X)
            lam = 2.0 * (X[:, 0] - 0.5)
            return GPyTorchPosterior(MultivariateNormal(p.mean.squeeze(-1) - 50.0 * (lam - 0.5).abs().lt(0.05),
                                                        p.distribution.covariance_matrix))

    assert shrink(Bump(a=1.0, s=1.0), lambda W: W, PRIOR, ARGMAX, 1.0).lam == pytest.approx(0.55)


def test_policy_recommendation_lies_between_the_prior_and_its_argmax():
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    argmax = pol.recommend(h).weights
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_shrink=1.0, **SMALL))
    rec = pol.recommend(h).weights
    info = pol.diagnostics()["shrink"]
    prior = design_prior(pol.space.tokens, pol.space.k)
    assert np.allclose(rec, prior + info["lambda"] * (argmax - prior), atol=1e-9)
    assert info["z"] == 1.0 and info["advantage"] <= info["advantage_sd"] + 1e-9
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_shrink=0.0, **SMALL))
    assert np.allclose(pol.recommend(h).weights, argmax) and pol.diagnostics()["shrink"]["lambda"] == 1.0


@pytest.mark.parametrize("bad", [-1, "abc", float("inf")])
def test_rec_shrink_must_be_a_non_negative_number_of_sds_or_pbest(bad):
    with pytest.raises(BomixError, match="rec_shrink must be a number of sds >= 0, 'pbest' or null"):
        MFBOPolicy(rec_shrink=bad)
    assert MFBOPolicy(rec_shrink="pbest").rec_shrink == "pbest" and MFBOPolicy(rec_shrink="1.5").rec_shrink == 1.5


def test_pbest_is_the_expected_position_of_the_segments_best_point():
    sure = shrink(BrownianShift(a=1.0, s=1e-4), lambda W: W, PRIOR, ARGMAX, "pbest")
    assert sure.lam == pytest.approx(1.0)  # the argmax is the best point in every draw
    # no drift: the best point of a Brownian path from l = 1 spreads over the segment (its mean is well inside)
    spread = shrink(BrownianShift(a=0.0, s=1.0), lambda W: W, PRIOR, ARGMAX, "pbest", seed=3)
    assert 0.2 < spread.lam < 0.8 and np.allclose(spread.weights, PRIOR + spread.lam * (ARGMAX - PRIOR))
    again = shrink(BrownianShift(a=0.0, s=1.0), lambda W: W, PRIOR, ARGMAX, "pbest", seed=3)
    assert again.lam == spread.lam  # seeded draws: a function of the history


def test_policy_moves_towards_the_prior_as_far_as_z_allows():
    # runs only near the centre (the prior), the argmax at a vertex predicted 15 sds better: z = 1 keeps it, z = 100
    # (an advantage of 15 sds is not enough) moves all the way to the prior
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_shrink=100.0, **SMALL))
    rec = pol.recommend(h).weights
    assert pol.diagnostics()["shrink"]["lambda"] == 0.0 and np.allclose(rec, 1 / 3)


def test_policy_pbest_recommendation_lies_on_the_segment():
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    argmax = pol.recommend(h).weights
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_shrink="pbest", **SMALL))
    rec = pol.recommend(h).weights
    info = pol.diagnostics()["shrink"]
    assert info["z"] == "pbest" and 0.0 <= info["lambda"] <= 1.0
    assert np.allclose(rec, 1 / 3 + info["lambda"] * (argmax - 1 / 3), atol=1e-9)


def test_rebinding_forgets_the_previous_campaigns_hedge():
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_shrink=1.0, **SMALL))
    pol.recommend(h)
    assert "shrink" in pol.diagnostics()
    pol.bind(pol.problem, 8)
    assert "shrink" not in pol.diagnostics()
