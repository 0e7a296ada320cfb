"""A GP policy's recommendation at the target (:mod:`bomix.policies.bo.recommend`): the argmax of the score and
``rec_topk``, RegMix's top-k mean of Dirichlet(prior) draws ranked by the same score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomix.errors import BomixError
from bomix.policies.bo import MFBOPolicy
from bomix.policies.bo.recommend import DT, REC_TOPK_SAMPLES

from bo_helpers import SMALL
from test_evidence import _clustered_history


def _score(pol, h, w: np.ndarray) -> float:
    """The recommendation's score (posterior mean - rec_kappa sd of -loss at the target) at ``w (K,)``."""
    model, obs = pol.model(pol._settled(h), refit=False)
    with torch.no_grad():
        return float(pol._rec_score(model, obs)(torch.tensor(w[None], dtype=DT), np.zeros(1, dtype=int)))


def test_top1_of_the_draws_scores_close_to_the_argmax():
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    argmax = pol.recommend(h).weights
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_topk=1, **SMALL))
    top1 = pol.recommend(h).weights
    best, drawn = _score(pol, h, argmax), _score(pol, h, top1)
    assert drawn <= best + 1e-6  # the optimiser's argmax is at least as good as any one draw ...
    assert best - drawn < 0.05 * abs(best)  # ... and 100k draws on K = 3 come close to it


def test_topk_of_every_draw_is_the_draws_mean_the_prior():
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_topk=REC_TOPK_SAMPLES, **SMALL))
    assert np.allclose(pol.recommend(h).weights, 1 / 3, atol=0.01)  # Dirichlet(uniform prior) draws average to it


def test_topk_mean_hedges_between_the_argmax_and_the_prior_and_is_seeded():
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    argmax = pol.recommend(h).weights
    a, h_a, _ = _clustered_history(MFBOPolicy(n_init=8, rec_topk=128, **SMALL))
    b, h_b, _ = _clustered_history(MFBOPolicy(n_init=8, rec_topk=128, **SMALL))
    wa, wb = a.recommend(h_a).weights, b.recommend(h_b).weights
    assert np.array_equal(wa, wb)  # a function of the history and the seed
    assert np.isclose(wa.sum(), 1.0) and np.all(wa >= 0)
    assert _score(a, h_a, wa) < _score(a, h_a, argmax)  # an average of near-best draws, not the argmax itself
    assert np.abs(wa - 1 / 3).sum() < np.abs(argmax - 1 / 3).sum()  # ... nearer the prior than the argmax


@pytest.mark.parametrize("bad", [0, -3])
def test_rec_topk_must_be_a_positive_count(bad):
    with pytest.raises(BomixError, match="mfbo: rec_topk must be a number of mixtures >= 1 or null"):
        MFBOPolicy(rec_topk=bad)


def test_topk_keeps_to_the_evidence_radius_and_falls_back_to_the_argmax_without_draws_inside(monkeypatch):
    from bomix.policies.bo import recommend
    from bomix.policies.bo.evidence import evidence_radius, inside

    pol, h, W = _clustered_history(MFBOPolicy(n_init=8, rec_topk=16, rec_evidence=1.0, **SMALL))
    kept = pol.recommend(h).weights
    assert inside(kept[None], W, evidence_radius(W, 1.0))[0]  # a mean of draws near the runs stays near them
    ref, h_ref, _ = _clustered_history(MFBOPolicy(n_init=8, rec_evidence=1.0, **SMALL))
    argmax = ref.recommend(h_ref).weights
    assert not np.allclose(kept, argmax)  # not vacuous: with draws inside, topk is not the argmax
    monkeypatch.setattr(recommend.evidence, "inside", lambda W, C, r: np.zeros(len(W), dtype=bool))  # none inside
    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, rec_topk=16, rec_evidence=1.0, **SMALL))
    assert np.allclose(pol.recommend(h).weights, argmax)


def test_prediction_is_cached_per_settled_history_and_mixture(monkeypatch):
    from bomix.history import History
    from bomix.space import Mixture

    pol, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    w = pol.recommend(h)
    first = pol.predict(h, w)
    calls = []
    real = type(pol)._predict
    monkeypatch.setattr(type(pol), "_predict", lambda self, *a: calls.append(1) or real(self, *a))
    assert pol.predict(h, w) == first and calls == []  # the campaign asks after every run: no recomputation
    other = Mixture(np.full(len(w.weights), 1.0 / len(w.weights)), w.domains)
    assert pol.predict(h, other) != first and len(calls) == 1  # another mixture is computed ...
    shorter = History(h.space, h.objective, h.results[:-1], [], h.budget, h.spent)
    pol.predict(shorter, w)
    assert len(calls) == 2  # ... and so is another history
    assert pol.predict(h, w) == pytest.approx(first)  # recomputed after the other history, the same value


def test_expected_best_is_the_best_candidate_when_certain_and_the_centre_of_ties():
    from bomix.policies.bo.recommend import expected_best

    C = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    certain = expected_best(torch.tensor([0.0, 1.0, 0.5], dtype=DT), 1e-10 * torch.eye(3, dtype=DT), C, 500, 0)
    assert np.allclose(certain, [0.0, 1.0])
    # two equally good, independent candidates and a clearly worse one: half the draws pick each
    tie = expected_best(torch.tensor([1.0, 1.0, -5.0], dtype=DT), torch.eye(3, dtype=DT), C, 4000, 1)
    assert np.allclose(tie, [0.5, 0.5], atol=0.03)
    # perfectly correlated candidates keep their order in every draw: the mean decides
    corr = expected_best(torch.tensor([1.0, 0.9, 0.0], dtype=DT), torch.ones(3, 3, dtype=DT), C, 500, 2)
    assert np.allclose(corr, [1.0, 0.0])


def test_rec_centre_is_the_argmax_when_sure_a_hedge_when_not_and_seeded():
    from bomix.history import History

    def four(h):  # the first 4 runs: a posterior unsure where the optimum is
        return History(h.space, h.objective, h.results[:4], [], h.budget, h.spent)

    plain, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    pol, _, _ = _clustered_history(MFBOPolicy(n_init=8, rec_centre=True, **SMALL))
    assert np.allclose(pol.recommend(h).weights, plain.recommend(h).weights, atol=0.01)  # 8 runs: sure of the vertex
    argmax, centre = plain.recommend(four(h)).weights, pol.recommend(four(h)).weights
    assert np.abs(centre - argmax).sum() > 0.2 and centre.max() < 0.9  # unsure: an interior mixture, not the argmax
    assert _score(pol, four(h), centre) <= _score(pol, four(h), argmax) + 1e-6  # whose score the argmax beats
    pol._rec_cache = {}
    assert np.array_equal(pol.recommend(four(h)).weights, centre)  # a function of the history and the seed
    with pytest.raises(BomixError, match="rec_centre must be true or false"):
        MFBOPolicy(rec_centre="yes")
    with pytest.raises(BomixError, match="set one of them"):
        MFBOPolicy(rec_centre=True, rec_topk=8)


def test_robust_best_takes_the_candidate_never_far_behind_over_the_one_best_on_average():
    from bomix.policies.bo.recommend import joint_draws, robust_best

    # candidates 0 and 1: each best on average, and whenever one is ahead the other is as far behind (1 + X and
    # 1 - X); candidate 2: a little worse on average (0.95), never far behind either
    mean = torch.tensor([1.0, 1.0, 0.95], dtype=DT)
    cov = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1e-6]], dtype=DT)
    F = joint_draws(mean, cov, 4000, 0)
    assert F.shape == (4000, 3) and torch.allclose(F.mean(0), mean, atol=0.05)
    assert torch.allclose(F[:, 0] + F[:, 1], torch.full((4000,), 2.0, dtype=DT), atol=1e-3)  # the joint draws
    assert robust_best(F, 0.9) == 2  # 90% regret: 2 |X| at its 80% quantile (2.6) vs |X| + 0.05 at its 90% (1.7)
    assert robust_best(F, 0.1) in (0, 1)  # the optimistic quantile takes a gamble
    certain = joint_draws(torch.tensor([0.0, 1.0, 0.5], dtype=DT), 1e-10 * torch.eye(3, dtype=DT), 100, 1)
    assert robust_best(certain, 0.9) == 1  # a sure posterior: the best mean
    assert robust_best(torch.zeros(5, 3, dtype=DT), 0.9) == 0  # ties go to the first candidate (the argmax)


def test_rec_robust_is_the_argmax_when_sure_a_hedge_when_not_and_seeded():
    from bomix.history import History

    def four(h):  # the first 4 runs: a posterior unsure where the optimum is
        return History(h.space, h.objective, h.results[:4], [], h.budget, h.spent)

    plain, h, _ = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    pol, _, _ = _clustered_history(MFBOPolicy(n_init=8, rec_robust=0.9, **SMALL))
    assert np.allclose(pol.recommend(h).weights, plain.recommend(h).weights, atol=0.05)  # 8 runs: sure of the vertex
    argmax, robust = plain.recommend(four(h)).weights, pol.recommend(four(h)).weights
    assert np.abs(robust - argmax).sum() > 0.2  # unsure: another mixture than the argmax ...
    assert _score(pol, four(h), robust) <= _score(pol, four(h), argmax) + 1e-6  # ... whose score the argmax beats
    pol._rec_cache = {}
    assert np.array_equal(pol.recommend(four(h)).weights, robust)  # a function of the history and the seed
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(BomixError, match="rec_robust must be a quantile in"):
            MFBOPolicy(rec_robust=bad)
    with pytest.raises(BomixError, match="set one of them"):
        MFBOPolicy(rec_robust=0.9, rec_centre=True)
