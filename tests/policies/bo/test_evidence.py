"""``rec_evidence``: a GP policy's recommendation stays within the trust radius of its own runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomix.errors import BomixError
from bomix.policies.bo import MFBOPolicy
from bomix.policies.bo.evidence import evidence_radius, inside, within
from bomix.runs import RunSpec
from bomix.space import Mixture

from bo_helpers import SMALL, bound


def test_radius_is_a_quantile_of_nearest_neighbour_distances():
    C = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])  # nn TV: 0.1, 0.1, 1.0
    assert evidence_radius(C, 0.5) == pytest.approx(0.1)
    assert evidence_radius(C, 1.0) == pytest.approx(1.0)
    assert evidence_radius(C[:1], 0.9) == 1.0  # one mixture: no evidence of spacing, the whole simplex


def test_barrier_leaves_points_inside_unchanged_and_penalises_outside():
    C = np.array([[0.5, 0.5, 0.0]])
    acq = within(lambda W, g: W[:, 2], C, radius=0.2)
    W = torch.tensor([[0.45, 0.45, 0.1], [0.0, 0.0, 1.0]], dtype=torch.double)
    v = acq(W, np.zeros(2, dtype=int))
    assert float(v[0]) == pytest.approx(0.1)  # TV 0.1 <= 0.2: unchanged
    assert float(v[1]) < -1e3  # TV 1.0: the barrier
    assert inside(W.numpy(), C, 0.2).tolist() == [True, False]


def _clustered_history(policy):
    """Runs near the centre only, on a problem whose target optimum is on the boundary."""
    b, pol, h = bound(policy, k=3)
    rng = np.random.default_rng(0)
    t = pol.space.target
    W = pol.space.project(np.full((8, 3), 1 / 3) + rng.normal(0, 0.03, (8, 3)), t)
    for i, w in enumerate(W):
        h.results.append(b.run(RunSpec(Mixture(w, pol.space.domains), t.scale, t.steps, tag="init", run_id=f"r{i}")))
    return pol, h, W


def test_recommendation_stays_near_the_evidence_only_when_asked():
    pol, h, W = _clustered_history(MFBOPolicy(n_init=8, **SMALL))
    free = pol.recommend(h)
    pol, h, W = _clustered_history(MFBOPolicy(n_init=8, rec_evidence=1.0, **SMALL))
    kept = pol.recommend(h)
    r = evidence_radius(W, 1.0)
    assert inside(kept.weights[None], W, r)[0]
    assert not inside(free.weights[None], W, r)[0]  # the test is not vacuous: unconstrained, it leaves


def test_rec_evidence_must_be_a_quantile():
    with pytest.raises(BomixError, match="rec_evidence must be in"):
        MFBOPolicy(rec_evidence=1.5)
