"""The controller base: projection, overhead counted from wants, JSON state, the trace."""

import json

import numpy as np
import pytest

from bomix.online import SignalCosts, build_controller
from online_helpers import drive

REF = {"source": "model", "mixture": [0.5, 0.5], "scale": "20M", "steps": 100}


def test_overhead_counts_the_signals_asked_for():
    costs = SignalCosts(val=0.5, reference=1 / 3, grads=0.25)
    doremi = build_controller({"kind": "doremi", "reference": REF}, ["a", "b"], 0, initial=[0.5, 0.5], steps=100)
    assert doremi.overhead(costs) == pytest.approx(1 / 3)
    skill = build_controller({"kind": "skillit", "every": 10}, ["a", "b"], 0, initial=[0.5, 0.5], steps=100)
    assert skill.overhead(costs) == pytest.approx(0.5 * 10 / 100)
    assert skill.overhead(costs, start=50) == pytest.approx(0.5 * 5 / 50)
    odm = build_controller({"kind": "odm"}, ["a", "b"], 0, initial=[0.5, 0.5], steps=100)
    assert odm.overhead(costs) == 0.0


def test_weights_are_projected_onto_the_space():
    ctrl = build_controller({"kind": "odm", "params": {"mode": "mixed", "warmup": 0}}, ["a", "b"], 0,
                            initial=[0.5, 0.5], steps=10, project=lambda w: np.clip(w, 0.3, 0.7) / np.clip(w, 0.3, 0.7).sum())
    ctrl.w = np.array([0.95, 0.05])
    np.testing.assert_allclose(ctrl.weights(0), [0.7, 0.3])


def test_trace_is_at_eval_granularity_and_state_is_json():
    ctrl, _ = drive({"kind": "odm", "params": {"warmup": 0, "mode": "mixed"}},
                    lambda t, w: np.array([3.0, 1.0]), 95, k=2, trace_every=10)
    out = ctrl.output()
    assert out["trace"]["steps"] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert len(out["trace"]["realised"]) == 10
    json.dumps(ctrl.state_dict())
    assert abs(sum(out["average"]) - 1) < 1e-9
