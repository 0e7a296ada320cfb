"""Simulators declare what they answer (:class:`SimulatorBackend`); the truth of the metric simulators is
written once (:class:`MetricSimulator`)."""

from __future__ import annotations

import numpy as np

from bomix.backends.base import Backend, MetricSimulator, SimulatorBackend
from bomix.backends.mfms import MFMSBackend
from bomix.backends.replay.backend import ReplayBackend
from bomix.backends.synthetic import SyntheticBackend
from bomix.runs import RunSpec
from bomix.space import Mixture


def small():
    return SyntheticBackend(k=3, scales={"20M": 20e6, "60M": 60e6}, min_steps=100, max_steps=1000,
                            eval_every=100, seed=0)


def test_every_simulator_declares_its_truth():
    assert issubclass(SyntheticBackend, MetricSimulator) and issubclass(MFMSBackend, MetricSimulator)
    assert issubclass(ReplayBackend, SimulatorBackend) and not issubclass(ReplayBackend, MetricSimulator)
    assert SyntheticBackend.supports_recipe and not MFMSBackend.supports_recipe
    assert not ReplayBackend.supports_recipe and not Backend.supports_recipe


def test_metric_truth_is_one_vectorised_answer_and_a_cached_optimum():
    b = small()
    obj, fid = b.default_objective, b.space.target
    W = np.random.default_rng(0).dirichlet(np.ones(3), 5)
    vals = b.true_values(W, fid, obj)
    assert vals.shape == (5,) and b.has_truth
    assert b.true_value(Mixture(W[2], b.space.domains), fid, obj) == vals[2]
    w, v = b.optimum(obj)
    assert b.optimum(obj, fid) == (w, v) and v <= vals.min() + 1e-9
    assert b.true_value(w, fid, obj) == v or abs(b.true_value(w, fid, obj) - v) < 1e-9


def test_a_recipe_is_answered_only_where_declared():
    b = small()
    spec = RunSpec(Mixture([1 / 3] * 3), "20M", 200, seed=0, controller={"kind": "odm", "params": {"warmup": 0}})
    assert np.isfinite(b.true_value_recipe(spec, b.default_objective))
    assert Backend.true_value_recipe(b, spec, b.default_objective) is None  # the base declares "none"
