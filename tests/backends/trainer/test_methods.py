"""Every online method of bomix.online runs on the trainer (tiny CPU model), continues from its
checkpoint exactly, reproduces itself from scratch, and is charged what its signals cost."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.backends.trainer.backend import TrainerBackend
from bomix.online import CONTROLLERS, ControllerConfig
from bomix.runs import RunSpec

from .conftest import TINY_LADDER

CURVE_REF = {"source": "curve", "steps": [10, 20], "losses": [[6.0, 6.0, 6.0], [5.5, 5.0, 4.5]]}
MODEL_REF = {"source": "model", "run_id": "ref", "scale": "s"}

#: kind -> (every, apply, params, reference, signal it needs) at tiny sizes (published defaults otherwise)
METHODS = {
    "odm": (1, "resample", {"warmup": 3}, None, None),
    "odm_mixed": (1, "resample", {"warmup": 3, "mode": "mixed"}, None, None),
    "doremi": (1, "reweight", {}, MODEL_REF, "reference"),
    "doremi_token": (1, "reweight", {"normaliser": "token"}, MODEL_REF, "reference"),
    "doremi_curve": (1, "reweight", {}, CURVE_REF, None),
    "excess": (4, "resample", {"signal": "val"}, CURVE_REF, "val"),
    "excess_model": (4, "resample", {"signal": "train"}, MODEL_REF, None),
    "aioli": (1, "resample", {"lp_rounds": 1, "lp_steps": 1, "update_steps": 8}, None, "val"),
    "ado": (1, "resample", {"refit_every": 4, "start": 6, "record_every": 1}, None, None),
    "doge": (1, "reweight", {}, None, "grads"),
    "skillit": (4, "resample", {"graph": [[1.0, 0.2, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]]}, None, "val"),
}


def make(tiny_data, tmp_path) -> TrainerBackend:
    return TrainerBackend(str(tiny_data), ladder=TINY_LADDER, min_steps=10, max_steps=40, eval_every=10, batch_size=4,
                          context=16, eval_sequences=4, warmup=5, lr=1e-2, device="cpu",
                          checkpoint_dir=str(tmp_path / "ckpt"))


def config(name: str) -> ControllerConfig:
    every, apply, params, ref, _ = METHODS[name]
    return ControllerConfig(name.split("_")[0], every=every, apply=apply, params=params, reference=ref)


def test_every_registered_method_is_covered():
    assert {n.split("_")[0] for n in METHODS} == set(CONTROLLERS)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_runs_continues_and_reproduces(tiny_data, tmp_path, name):
    b = make(tiny_data, tmp_path)
    mix = b.space.center()
    if METHODS[name][3] is MODEL_REF:
        assert b.run(RunSpec(mix, "s", 10, seed=9, run_id="ref")).ok
    cfg = config(name)
    half = b.run(RunSpec(mix, "s", 10, seed=1, run_id="a", controller=cfg))
    assert half.ok, half.error
    cont = b.run(RunSpec(mix, "s", 20, seed=1, run_id="b", resume_from="a", resume_step=10, controller=cfg))
    full = b.run(RunSpec(mix, "s", 20, seed=1, run_id="c", controller=cfg))
    again = b.run(RunSpec(mix, "s", 20, seed=1, run_id="d", controller=cfg))
    assert cont.ok and full.ok and again.ok, (cont.error, full.error)
    out = full.info["controller"]
    assert out["kind"] == cfg.kind and out["steps_observed"] == 20
    avg = np.asarray(out["average"])
    assert avg.shape == (3,) and np.all(avg >= 0) and avg.sum() == pytest.approx(1.0)
    # continuation == uninterrupted run; a re-run from scratch == the first run
    assert again.info["weight_log"] == full.info["weight_log"] and again.info["controller"] == out
    np.testing.assert_allclose(cont.info["controller"]["average"], out["average"], atol=1e-5)
    np.testing.assert_allclose(cont.curve.metrics["loss:code"], full.curve.metrics["loss:code"], atol=1e-4)
    # the signal the method lives on was gathered, and charged exactly as at dispatch
    need = METHODS[name][4]
    if need is not None:
        assert full.info["signal_requests"][need] > 0
        assert full.cost > b.cost_model("s", 20)
    spec = RunSpec(mix, "s", 20, seed=1, controller=cfg)
    assert full.cost == pytest.approx(b.cost(spec), rel=1e-9)
    assert cont.cost == pytest.approx(b.cost(spec.with_(resume_from="a", resume_step=10)), rel=1e-9)
