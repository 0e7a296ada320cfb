"""Aioli: the probe's solve recovers a known interaction matrix exactly on a linear toy."""

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.online import Signals, build_controller
from bomix.online.aioli import normalise_interactions, solve_interactions

K = 3
A_TRUE = np.array([[0.02, 0.005, 0.0], [0.01, 0.03, 0.0], [0.0, 0.0, 0.001]])  # A[i, j]: j's data on i's loss


def test_solve_recovers_a_known_matrix():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(K), 12)
    np.testing.assert_allclose(solve_interactions(P, P @ A_TRUE.T), A_TRUE, atol=1e-12)


def _linear_host(ctrl, steps):
    """Validation loss falls linearly in the mixture: dL = -A @ w per step."""
    L = np.full(K, 5.0)
    for t in range(steps):
        w = ctrl.weights(t)
        L = L - A_TRUE @ w
        want = ctrl.wants(t)
        ctrl.observe(t, Signals(t, L.copy(), np.round(w * 64), val_losses=L.copy() if want.val else None))
    return ctrl


def test_controller_probe_recovers_the_matrix_and_moves_towards_useful_domains():
    cfg = {"kind": "aioli", "params": {"update_steps": 60, "lp_rounds": 2, "lp_steps": 3, "ema": 0.0}}
    ctrl = build_controller(cfg, list("abc"), 0, initial=np.full(K, 1 / 3), steps=61)
    _linear_host(ctrl, 61)
    np.testing.assert_allclose(ctrl.A, normalise_interactions(A_TRUE), atol=1e-9)
    # column sums: domain 1's data helps most, domain 2's data helps least
    assert ctrl.w[1] > ctrl.w[0] > ctrl.w[2]
    ctrl2 = _linear_host(build_controller({**cfg}, list("abc"), 0, initial=np.full(K, 1 / 3), steps=300), 300)
    assert ctrl2.output()["final"][2] < ctrl.w[2]


def test_probe_steps_use_the_smoothed_one_hot_and_ask_for_validation():
    ctrl = build_controller({"kind": "aioli"}, list("abc"), 4, initial=np.full(K, 1 / 3), steps=1000)
    assert ctrl.wants(0).val and not ctrl.wants(1).val and ctrl.wants(4).val
    seg = ctrl.segment(1)
    assert ctrl.weights(1)[seg[1]] == pytest.approx(0.625)
    assert np.allclose(ctrl.weights(100), 1 / 3)  # after the probe: the round's weights
    with pytest.raises(BomixError, match="shorter than the probe"):
        build_controller({"kind": "aioli", "params": {"update_steps": 20}}, list("abc"), 0,
                         initial=np.full(K, 1 / 3), steps=100)
