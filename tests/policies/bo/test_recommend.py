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
