"""DoReMi: the update formula, the unlearnable-domain direction (and its growth with eta), references."""

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.errors import BomixError
from bomix.online import Signals, build_controller
from bomix.runs import RunSpec
from bomix.space import Mixture

REF = {"source": "model", "mixture": [0.5, 0.5], "scale": "20M", "steps": 2000}


def test_one_update_from_uniform_matches_the_formula():
    c, eta = 1e-3, 1.0
    ctrl = build_controller({"kind": "doremi", "apply": "reweight", "reference": REF}, ["a", "b"], 0,
                            initial=[0.5, 0.5], steps=10)
    ctrl.observe(0, Signals(0, np.array([3.0, 2.0]), np.array([64.0, 64.0]), excess=np.array([1.0, 0.0])))
    e = np.exp(np.log([0.5, 0.5]) + eta * np.array([1.0, 0.0]))
    np.testing.assert_allclose(ctrl.w, (1 - c) * e / e.sum() + c / 2)
    np.testing.assert_allclose(ctrl.loss_weights(1), ctrl.w)
    np.testing.assert_allclose(ctrl.weights(1), [0.5, 0.5])  # reweight: batches keep the base mixture


def test_absent_domain_keeps_its_previous_excess():
    ctrl = build_controller({"kind": "doremi", "apply": "reweight", "reference": REF}, ["a", "b"], 0,
                            initial=[0.5, 0.5], steps=10)
    ctrl.observe(0, Signals(0, np.array([3.0, 2.0]), np.array([64.0, 64.0]), excess=np.array([0.2, 0.7])))
    ctrl.observe(1, Signals(1, np.array([3.0, np.nan]), np.array([64.0, 0.0]), excess=np.array([0.4, np.nan])))
    np.testing.assert_allclose(ctrl.lam, [0.4, 0.7])


def _toy(**kw):
    # domain 1 cannot be learned: no data scaling (B = 0) and no transfer
    return SyntheticBackend(domains=["learn", "flat"], scales={"20M": 20e6, "60M": 60e6}, min_steps=100,
                            max_steps=2000, eval_every=100, seed=0,
                            law={"B": [1.0, 0.0], "T": np.eye(2).tolist(), "u": [1.0, 1.0]}, **kw)


def _avg(b, eta, apply="reweight", reference=REF):
    spec = RunSpec(Mixture([0.5, 0.5]), "20M", 2000, seed=1,
                   controller={"kind": "doremi", "apply": apply, "params": {"eta": eta}, "reference": reference})
    return np.asarray(b.run(spec).info["controller"]["average"])


@pytest.mark.parametrize("apply", ["reweight", "resample"])
def test_unlearnable_domain_loses_weight_more_with_larger_eta(apply):
    b = _toy()
    lo, hi = _avg(b, 0.01, apply)[1], _avg(b, 1.0, apply)[1]
    assert hi < 0.4
    assert hi < lo


def test_curve_reference_works_without_a_reference_model():
    b = _toy()
    ref = b.run(RunSpec(Mixture([0.5, 0.5]), "20M", 2000, seed=0))
    curve = {"source": "curve", "steps": ref.curve.steps.tolist(),
             "losses": np.column_stack([ref.curve.metrics["loss:learn"], ref.curve.metrics["loss:flat"]]).tolist()}
    ctrl = build_controller({"kind": "doremi", "reference": curve}, ["a", "b"], 0, initial=[0.5, 0.5], steps=2000)
    assert not ctrl.wants(5)
    assert _avg(b, 1.0, reference=curve)[1] < 0.4


def test_needs_a_reference_and_a_known_normaliser():
    with pytest.raises(BomixError, match="reference"):
        build_controller({"kind": "doremi"}, ["a", "b"], 0, initial=[0.5, 0.5], steps=10)
    with pytest.raises(BomixError, match="normaliser"):
        build_controller({"kind": "doremi", "reference": REF, "params": {"normaliser": "sum"}}, ["a", "b"], 0,
                         initial=[0.5, 0.5], steps=10)


def test_both_normalisers_change_the_realised_mixture_differently():
    outs = {}
    for norm in ("domain", "token"):
        ctrl = build_controller({"kind": "doremi", "apply": "reweight", "reference": REF,
                                 "params": {"normaliser": norm}}, ["a", "b"], 0, initial=[0.8, 0.2], steps=1)
        ctrl.w = np.array([0.5, 0.5])
        # a batch of 70 / 30 tokens drawn from sampling weights 0.8 / 0.2
        ctrl.observe(0, Signals(0, np.array([1.0, 1.0]), np.array([70.0, 30.0]), excess=np.zeros(2)))
        outs[norm] = ctrl.output()["realised"]
    np.testing.assert_allclose(outs["domain"], [0.5, 0.5])   # paper: each present domain's mean loss x alpha
    # code: token weights alpha / sampling (0.625, 2.5) times the realised counts, renormalised
    np.testing.assert_allclose(outs["token"], [43.75 / 118.75, 75.0 / 118.75])