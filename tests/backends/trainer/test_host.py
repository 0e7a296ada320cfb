"""The trainer hosting online controllers: signals on demand, reweighting, projection, checkpointed
controller state, costs. A probe controller (registered for the test) records what it is given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from bomix.backends.trainer import host
from bomix.backends.trainer.backend import TrainerBackend
from bomix.backends.trainer.signals import domain_sums, per_domain_mean, token_losses
from bomix.online import CONTROLLERS, Controller, ControllerConfig, Signals, Wants
from bomix.online.base import renormalise, softmax
from bomix.runs import RunSpec

from .conftest import TINY_LADDER

SEEN: list[Signals] = []


class Probe(Controller):
    """Asks for every signal on a schedule and moves its weights towards high-loss domains."""

    kind = "probe"

    @dataclass(frozen=True)
    class Params:
        val_every: int = 0
        ref: bool = False
        grads_at: tuple = ()
        move: bool = True
        normaliser: str = "domain"
        start: tuple = ()

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        if self.p.start:
            self.w = np.asarray(self.p.start, dtype=float)

    def wants(self, step: int) -> Wants:
        return Wants(val=bool(self.p.val_every) and (step + 1) % self.p.val_every == 0,
                     reference=self.p.ref, grads=step in tuple(self.p.grads_at))

    def update(self, step: int, signals: Signals) -> None:
        SEEN.append(signals)
        if self.p.move and self.is_update(step):
            loss = np.nan_to_num(signals.train_losses, nan=0.0)
            self.w = renormalise(0.5 * self.w + 0.5 * softmax(loss))
            self.n_updates += 1


@pytest.fixture(autouse=True)
def _probe(monkeypatch):
    monkeypatch.setitem(CONTROLLERS, "probe", Probe)
    SEEN.clear()


def make(tiny_data, tmp_path, **kw) -> TrainerBackend:
    opts = dict(ladder=TINY_LADDER, min_steps=10, max_steps=40, eval_every=10, batch_size=4, context=16,
                eval_sequences=4, warmup=5, lr=1e-2, device="cpu", checkpoint_dir=str(tmp_path / "ckpt"))
    opts.update(kw)
    return TrainerBackend(str(tiny_data), **opts)


def probe(every=1, apply="resample", reference=None, **params) -> ControllerConfig:
    return ControllerConfig("probe", every=every, apply=apply, params=params, reference=reference)


def test_signals_on_demand_and_their_cost(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    assert b.supports_controller
    ref = b.run(RunSpec(b.space.mixture([0.2, 0.3, 0.5]), "s", 10, seed=1, run_id="ref"))
    assert ref.ok
    cfg = probe(val_every=5, ref=True, grads_at=(0, 7),
                reference={"source": "model", "run_id": "ref", "scale": "s"})
    spec = RunSpec(b.space.center(), "m", 10, seed=2, run_id="p", controller=cfg)
    res = b.run(spec)
    assert res.ok, res.error
    assert [s.step for s in SEEN] == list(range(10))
    for s in SEEN:
        assert s.train_losses.shape == (3,) and s.token_counts.sum() == 4 * 16
        assert np.all(np.isfinite(s.train_losses) == (s.token_counts > 0))
        assert s.ref_losses is not None and s.excess is not None and s.lr > 0
        assert (s.val_losses is not None) == (s.step in (4, 9))
        assert (s.grad_dots is not None) == (s.step in (0, 7))
    assert SEEN[0].grad_norms.shape == (3,) and SEEN[0].grad_gram.shape == (3, 3)
    # validation on demand after the last update = the curve's evaluation at that step
    np.testing.assert_allclose(SEEN[9].val_losses, [res.curve.metrics[f"loss:{d}"][-1] for d in b.space.domains],
                               rtol=1e-6)
    # the reference losses are the frozen reference run's losses on this very batch
    model, n_ref = host.load_reference(b, "ref", "cpu")
    assert n_ref == b.params["s"]
    w0 = b.space.center().weights
    x, y, dom = b.batcher().batch(0, w0, np.random.default_rng([2, 0]))
    import torch

    with torch.no_grad():
        tl, mask = token_losses(model, x, y)
    want = per_domain_mean(*domain_sums(tl, mask, torch.as_tensor(dom), 3))
    np.testing.assert_allclose(SEEN[0].ref_losses, want, rtol=1e-5)
    # costs: requests counted, the result charges what dispatch charged, more than a static run
    assert res.info["signal_requests"] == {"val": 2, "reference": 10, "grads": 2}
    costs = b.signal_costs(spec)
    assert costs.reference == pytest.approx(b.params["s"] / (3 * b.params["m"]))
    assert costs.grads == pytest.approx(1.0) and costs.val == pytest.approx(3 * 4 * 16 / (3 * 4 * 16))
    base = b.cost_model("m", 10)
    assert res.cost == pytest.approx(b.cost(spec), rel=1e-9) and res.cost > base
    assert res.info["extra_flops"] == pytest.approx((res.cost - base) * b.cost_model.target_raw, rel=1e-9)
    assert res.info["controller"]["kind"] == "probe" and res.info["controller"]["steps_observed"] == 10


def test_gradient_path_trains_exactly_like_the_plain_path(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    plain = b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="a", controller=probe(move=False)))
    grads = b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="b",
                          controller=probe(move=False, grads_at=tuple(range(10)))))
    for m in b.metrics:
        np.testing.assert_allclose(grads.curve.metrics[m], plain.curve.metrics[m], rtol=0, atol=2e-5)


def test_reweighting_by_domain_under_both_normalisers(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    mix = b.space.mixture([0.5, 0.25, 0.25])
    static = b.run(RunSpec(mix, "s", 20, seed=0, run_id="static"))
    # the code's normaliser with loss weights equal to the sampling weights is the plain token mean
    same = b.run(RunSpec(mix, "s", 20, seed=0, run_id="tok", controller=probe(
        apply="reweight", move=False, normaliser="token", start=(0.5, 0.25, 0.25))))
    for m in b.metrics:
        np.testing.assert_allclose(same.curve.metrics[m], static.curve.metrics[m], rtol=0, atol=2e-5)
    # the paper's normaliser with all weight on one domain trains on that domain only
    only = b.run(RunSpec(mix, "s", 20, seed=0, run_id="dom", controller=probe(
        apply="reweight", move=False, normaliser="domain", start=(0.0, 0.0, 1.0))))
    assert only.info["realized_mixture"] == static.info["realized_mixture"]  # same batches
    assert only.curve.final()["loss:digits"] < static.curve.final()["loss:digits"]
    assert only.curve.final()["loss:prose"] > static.curve.final()["loss:prose"]


def test_weights_are_projected_onto_the_space(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path, upper={"prose": 0.2})
    cfg = ControllerConfig("odm", every=1, params={"warmup": 2, "mode": "bandit"})
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="odm", controller=cfg))
    assert res.ok, res.error
    w = np.array([w for _, w in res.info["weight_log"]])
    assert len(w) > 3 and np.all(w[:, 0] <= 0.2 + 1e-9) and np.allclose(w.sum(1), 1)
    sched = res.info["schedule"]
    assert sched["starts"][0] == 0 and len(sched["starts"]) == len(w)
    assert {f"train_loss:{d}" for d in b.space.domains} <= set(res.curve.metrics)
    assert res.info["controller"]["kind"] == "odm"


def test_continuation_carries_the_controller_state(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    cfg = probe(every=3, val_every=4)
    mix = b.space.center()
    first = b.run(RunSpec(mix, "s", 20, seed=5, run_id="a", controller=cfg))
    cont = b.run(RunSpec(mix, "s", 40, seed=5, run_id="b", resume_from="a", resume_step=20, controller=cfg))
    full = b.run(RunSpec(mix, "s", 40, seed=5, run_id="c", controller=cfg))
    again = b.run(RunSpec(mix, "s", 40, seed=5, run_id="d", controller=cfg))  # a killed run re-run from scratch
    assert first.ok and cont.ok and full.ok
    assert cont.info["weight_log"] == full.info["weight_log"] == again.info["weight_log"]
    assert len(full.info["weight_log"]) > 5  # the weights did move
    for m in b.metrics:
        np.testing.assert_allclose(cont.curve.metrics[m], full.curve.metrics[m], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(again.curve.metrics[m], full.curve.metrics[m])
    np.testing.assert_allclose(cont.info["controller"]["average"], full.info["controller"]["average"], atol=1e-6)
    assert cont.info["controller"]["steps_observed"] == 40
    assert cont.cost == pytest.approx(b.cost(RunSpec(mix, "s", 40, resume_from="a", resume_step=20, controller=cfg)))
    # a continuation must carry the same controller
    other = b.run(RunSpec(mix, "s", 40, seed=5, run_id="e", resume_from="a", resume_step=20,
                          controller=probe(every=2, val_every=4)))
    plain = b.run(RunSpec(mix, "s", 40, seed=5, run_id="f", resume_from="a", resume_step=20))
    for bad in (other, plain):
        assert bad.status == "failed" and "same controller" in bad.error and "\n" not in bad.error


def test_bad_controller_inputs_fail_cleanly(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    missing = b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="x",
                            controller=probe(ref=True, reference={"source": "model", "run_id": "nope"})))
    assert missing.status == "failed" and "no checkpoint" in missing.error
    escape = b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="y",
                           controller=probe(ref=True, reference={"source": "model", "run_id": "../../etc"})))
    assert escape.status == "failed" and "plain name" in escape.error
    both = b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="z", controller=probe()), callback=lambda s: None)
    assert both.status == "failed" and "not both" in both.error
