"""DoGE, Skill-It and the excess-loss family: their formulas and directions."""

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.online import Signals, build_controller


def _sig(t, k=2, **kw):
    return Signals(t, np.full(k, 2.0), np.full(k, 64.0), **kw)


def test_doge_score_and_update_match_the_formula():
    ctrl = build_controller({"kind": "doge", "apply": "reweight"}, ["a", "b"], 0, initial=[0.5, 0.5], steps=5)
    assert ctrl.wants(0).grads
    lr = 1e-3
    ctrl.observe(0, _sig(0, grad_dots=np.array([2.0, -1.0]), grad_norms=np.array([1.0, 3.0]), lr=lr))
    score = np.clip(lr * np.array([2.0, -1.0]) / (2.0 + 1e-6), 0, 5 * lr)
    logw = np.log([0.5, 0.5]) + score / 0.01
    np.testing.assert_allclose(ctrl.w, np.exp(logw) / np.exp(logw).sum())
    np.testing.assert_allclose(ctrl.loss_weights(1), ctrl.w)  # the step uses sum_i w_i g_i
    with pytest.raises(BomixError, match="gradient"):
        ctrl.observe(1, _sig(1))


def test_doge_moves_away_from_a_domain_orthogonal_to_validation():
    ctrl = build_controller({"kind": "doge", "apply": "reweight"}, ["a", "b"], 0, initial=[0.5, 0.5], steps=300)
    for t in range(300):
        ctrl.observe(t, _sig(t, grad_dots=np.array([0.5, 0.0]), grad_norms=np.ones(2), lr=3e-3))
    assert ctrl.output()["average"][1] < 0.3


def test_skillit_formula_and_window():
    A = [[1.0, 0.5], [0.0, 1.0]]
    ctrl = build_controller({"kind": "skillit", "every": 2, "params": {"graph": A, "window": 2}}, ["a", "b"], 0,
                            initial=[0.5, 0.5], steps=10)
    assert not ctrl.wants(0) and ctrl.wants(1).val
    vals = [np.array([1.0, 3.0]), np.array([2.0, 1.0]), np.array([4.0, 4.0])]
    for i, v in enumerate(vals):
        ctrl.observe(2 * i, _sig(2 * i))
        ctrl.observe(2 * i + 1, _sig(2 * i + 1, val_losses=v))
    s = vals[1] + vals[2]
    e = np.exp(0.2 * np.asarray(A) @ s)
    np.testing.assert_allclose(ctrl.w, e / e.sum())


def test_skillit_target_weights_steer_away_from_irrelevant_domains():
    ctrl = build_controller({"kind": "skillit", "params": {"target": [1.0, 0.0], "eta": 0.8}}, ["a", "b"], 0,
                            initial=[0.5, 0.5], steps=3)
    ctrl.observe(0, _sig(0, val_losses=np.array([3.0, 3.0])))
    assert ctrl.w[0] > 0.9


@pytest.mark.parametrize("form", ["clipped", "relative"])
def test_excess_upweights_the_domain_lagging_its_reference(form):
    ref = {"source": "curve", "steps": [100], "losses": [[2.0, 2.0]]}
    ctrl = build_controller({"kind": "excess", "every": 10, "params": {"form": form}, "reference": ref},
                            ["a", "b"], 0, initial=[0.5, 0.5], steps=100)
    assert ctrl.wants(9).val and not ctrl.wants(8)
    for t in range(30):
        val = np.array([3.0 - 0.01 * t, 2.2 - 0.005 * t]) if ctrl.wants(t) else None
        ctrl.observe(t, _sig(t, val_losses=val))
    assert ctrl.w[0] > 0.6
    if form == "clipped":  # one Sheared-LLaMA update from the start: w * exp(max(L - ref, 0))
        c = build_controller({"kind": "excess", "every": 1, "reference": ref}, ["a", "b"], 0,
                             initial=[0.5, 0.5], steps=2)
        c.observe(0, _sig(0, val_losses=np.array([2.5, 1.5])))
        e = 0.5 * np.exp([0.5, 0.0])
        np.testing.assert_allclose(c.w, e / e.sum())
