"""The synthetic step simulator: agrees with the closed form, sampling, absent domains, signals, seeds."""

import numpy as np
import pytest

from bomix.backends.base import Backend
from bomix.backends.synthetic import SyntheticBackend
from bomix.backends.synthetic_steps import batch_counts
from bomix.campaign import Campaign
from bomix.errors import BomixError
from bomix.policies.online import OnlinePolicy
from bomix.runs import RunSpec
from bomix.space import Mixture

FROZEN = {"kind": "skillit", "every": 100000}  # never updates: the run stays on its initial mixture


def small(**kw):
    return SyntheticBackend(k=4, scales={"20M": 20e6, "60M": 60e6}, min_steps=100, max_steps=2000,
                            eval_every=100, seed=0, **kw)


@pytest.mark.parametrize("rho", [1.0, 0.999])
def test_a_frozen_controller_reproduces_the_closed_form(rho):
    b = small(rho=rho)
    w = Mixture([0.25, 0.25, 0.25, 0.25])  # B = 256 sequences split exactly
    stepped = b.run(RunSpec(w, "20M", 2000, seed=1, controller=FROZEN))
    closed = b.run(RunSpec(w, "20M", 2000, seed=1))
    for m in closed.curve.metrics:
        np.testing.assert_allclose(stepped.curve.metrics[m], closed.curve.metrics[m], rtol=1e-10)
    assert b.true_value(w, b.space.target, b.default_objective) == pytest.approx(
        float(b.run(RunSpec(w, "60M", 2000, seed=0, controller=FROZEN)).curve.final()["loss:target"]))


def test_forgetting_makes_order_matter_only_when_rho_below_one():
    a, c = Mixture([0.7, 0.1, 0.1, 0.1]), Mixture([0.1, 0.7, 0.1, 0.1])
    from bomix.runs import MixtureSchedule

    for rho, same in [(1.0, True), (0.998, False)]:
        b = small(rho=rho)
        ab = b.run(RunSpec(a, "20M", 2000, schedule=MixtureSchedule((0, 1000), (a, c)))).curve.final()
        ba = b.run(RunSpec(a, "20M", 2000, schedule=MixtureSchedule((0, 1000), (c, a)))).curve.final()
        assert np.isclose(ab["loss:d0"], ba["loss:d0"]) == same
    assert ab["loss:d0"] > ba["loss:d0"]  # with forgetting, domain 0 seen early has been forgotten more


def test_batch_counts_follow_the_trainers_systematic_sampling():
    w = np.array([0.5, 0.3, 0.2, 0.0])
    n = batch_counts(w, 256, 0.37)
    assert n.sum() == 256 and n[3] == 0 and np.all(np.abs(n - 256 * w) <= 1)


def test_bandit_batches_leave_absent_domains_nan_and_reproduce():
    b = small(batch_noise=0.5)
    spec = RunSpec(Mixture([0.25] * 4), "20M", 500, seed=3, controller={"kind": "odm", "params": {"warmup": 0}})
    r1, r2 = b.run(spec), b.run(spec)
    assert np.array_equal(r1.curve.metrics["loss:d0"], r2.curve.metrics["loss:d0"])
    assert r1.info["controller"] == r2.info["controller"]
    assert set(f"train_loss:d{i}" for i in range(4)) <= set(r1.curve.metrics)
    # the step-level check: a one-domain batch has exactly one finite train loss
    from bomix.backends import synthetic_steps as st
    from bomix.online import base

    seen = []
    orig = base.Controller.observe

    def spy(self, step, s):
        seen.append(np.isfinite(s.train_losses).sum())
        return orig(self, step, s)

    base.Controller.observe = spy
    try:
        st.simulate(b, spec)
    finally:
        base.Controller.observe = orig
    assert set(seen) == {1}


def test_shorter_run_is_a_prefix_of_a_longer_one():
    b = small()
    cfg = {"kind": "odm", "params": {"warmup": 0, "mode": "mixed"}}
    short = b.run(RunSpec(Mixture([0.25] * 4), "20M", 1000, seed=2, controller=cfg))
    long = b.run(RunSpec(Mixture([0.25] * 4), "20M", 2000, seed=2, controller=cfg))
    np.testing.assert_allclose(long.curve.metrics["loss:d1"][:10], short.curve.metrics["loss:d1"])


def test_reference_and_gradient_signals():
    b = small(law={"T": np.eye(4).tolist(), "u": [1.0, 0.0, 0.0, 0.0]}, grad_noise=0.0)
    spec = RunSpec(Mixture([0.25] * 4), "20M", 300, seed=1, controller={"kind": "doge", "apply": "reweight"})
    from bomix.backends import synthetic_steps as st
    from bomix.online.doge import DoGEController

    dots = []
    orig = DoGEController.update

    def spy(self, step, s):
        dots.append(s.grad_dots.copy())
        return orig(self, step, s)

    DoGEController.update = spy
    try:
        st.simulate(b, spec)
    finally:
        DoGEController.update = orig
    d = np.array(dots)
    assert np.all(d[:, 0] > 0) and np.all(d[:, 1:] == 0)  # only domain 0 helps the target
    ref = {"source": "model", "mixture": [0.25] * 4, "scale": "20M", "steps": 2000}
    L = b.reference_losses(ref)
    m = b.metrics_at(np.full(4, 0.25), "20M", 2000)
    np.testing.assert_allclose(L, [m[f"loss:d{i}"][0] for i in range(4)])


def test_controller_overhead_is_charged():
    b = small()
    base = RunSpec(Mixture([0.25] * 4), "20M", 1000)
    ref = {"source": "model", "mixture": [0.25] * 4, "scale": "20M", "steps": 1000}
    online = base.with_(controller={"kind": "doremi", "reference": ref})
    assert b.cost(online) == pytest.approx(b.cost(base) * (1 + 1 / 3))
    assert b.run(online.with_(seed=0)).cost == pytest.approx(b.cost(online))


def test_law_override_is_validated():
    with pytest.raises(BomixError, match="shape"):
        small(law={"T": [[1.0]]})
    with pytest.raises(BomixError, match="unknown law parameter"):
        small(law={"Z": [1, 2, 3, 4]})
    with pytest.raises(BomixError, match="rho"):
        small(rho=1.5)


class NoController(SyntheticBackend):
    name = "static-only"
    supports_controller = False


def test_backend_without_controller_support_is_a_one_line_error_before_dispatch(tmp_path):
    b = NoController(k=3, scales={"20M": 20e6}, min_steps=100, max_steps=500, eval_every=100)
    with pytest.raises(BomixError, match="cannot host"):
        Campaign(b, OnlinePolicy({"kind": "odm"}), budget=1.0, directory=tmp_path)
    spec = RunSpec(Mixture([1 / 3] * 3), "20M", 100, controller={"kind": "odm"})
    with pytest.raises(BomixError, match="cannot run online controllers"):
        Backend.check_controller(b, spec)
