"""TrainerBackend: runs, continuation, schedules, callbacks, divergence, OOM, a campaign, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomix.backends.trainer.backend import TrainerBackend
from bomix.export import export_campaign, runs_to_table
from bomix.campaign import run_campaign
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import MixtureSchedule, RunSpec
from bomix.space import Mixture

from .conftest import TINY_LADDER


def make(tiny_data, tmp_path, **kw) -> TrainerBackend:
    opts = dict(ladder=TINY_LADDER, min_steps=10, max_steps=40, eval_every=10, batch_size=4, context=16,
                eval_sequences=4, warmup=5, lr=1e-2, device="cpu", checkpoint_dir=str(tmp_path / "ckpt"))
    opts.update(kw)
    return TrainerBackend(str(tiny_data), **opts)


def test_space_metrics_and_cost(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    assert b.space.domains == ("prose", "code", "digits")
    assert b.space.scale_names == ("s", "m") and b.space.target.steps == 40
    assert b.space.tokens is not None and np.all(b.space.tokens > 0)
    assert b.metrics == ("loss:prose", "loss:code", "loss:digits", "train_loss",
                         "train_loss:prose", "train_loss:code", "train_loss:digits")
    assert b.default_objective.metrics == ["loss:prose", "loss:code", "loss:digits"]
    assert b.cost(RunSpec(b.space.center(), "m", 40)) == pytest.approx(1.0)
    assert b.cost(RunSpec(b.space.center(), "m", 40, resume_from="x", resume_step=30)) == pytest.approx(0.25)


def test_run_then_continue_equals_one_run(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    mix = b.space.mixture([0.5, 0.3, 0.2])
    short = b.run(RunSpec(mix, "s", 20, seed=3, run_id="a"))
    assert short.ok and list(short.curve.steps) == [10, 20]
    cont = b.run(RunSpec(mix, "s", 40, seed=3, run_id="b", resume_from="a", resume_step=20))
    full = b.run(RunSpec(mix, "s", 40, seed=3, run_id="c"))
    assert cont.ok and full.ok
    assert list(cont.curve.steps) == [10, 20, 30, 40] == list(full.curve.steps)
    for m in b.metrics:
        np.testing.assert_allclose(cont.curve.metrics[m], full.curve.metrics[m], rtol=0, atol=1e-4)
    assert cont.cost == pytest.approx(b.cost_model("s", 40, 20)) and cont.cost < full.cost
    assert cont.info["tokens"] == 20 * 4 * 16
    # learning happens: the final validation loss is below the first
    assert full.curve.metrics["loss:prose"][-1] < full.curve.metrics["loss:prose"][0]
    # other seed -> other curve
    other = b.run(RunSpec(mix, "s", 20, seed=4, run_id="d"))
    assert not np.allclose(other.curve.metrics["loss:code"], short.curve.metrics["loss:code"])


def test_missing_checkpoint_fails_cleanly(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="z", resume_from="nope", resume_step=10))
    assert res.status == "failed" and "not found" in res.error


def test_mixture_decides_the_data(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    res = b.run(RunSpec(b.space.mixture([0.0, 0.0, 1.0]), "s", 20, seed=0, run_id="x"))
    assert res.info["realized_mixture"] == [0.0, 0.0, 1.0]
    c = res.curve.final()
    assert c["loss:digits"] < c["loss:prose"]  # trained only on digits


def test_schedule_and_callback(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    d = b.space.domains
    sched = MixtureSchedule((0, 10), (Mixture([1, 0, 0], d), Mixture([0, 0, 1], d)))
    res = b.run(RunSpec(sched.average(20), "s", 20, seed=0, run_id="s", schedule=sched))
    assert res.info["weight_log"] == [(0, [1.0, 0.0, 0.0]), (10, [0.0, 0.0, 1.0])]
    np.testing.assert_allclose(res.info["realized_mixture"], [0.5, 0.0, 0.5])

    seen = []

    def cb(state):
        seen.append((state.step, state.train_losses.copy()))
        return np.array([0.0, 1.0, 0.0])

    b2 = make(tiny_data, tmp_path, callback_every=5)
    res2 = b2.run(RunSpec(b2.space.center(), "s", 20, seed=0, run_id="cb"), callback=cb)
    assert [s for s, _ in seen] == [5, 10, 15, 20]
    assert np.all(np.isfinite(seen[0][1]))  # every domain sampled in the first window
    assert res2.info["weight_log"][-1] == (5, [0.0, 1.0, 0.0])


def test_a_callback_named_by_the_spec_is_refused_and_never_imported(tiny_data, tmp_path, monkeypatch):
    import importlib

    imported = []
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name))
    b = make(tiny_data, tmp_path)
    meta = {"callback": "os:system", "callback_every": 10, "callback_kwargs": {"command": "touch pwned"}}
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="m", meta=meta))
    assert res.status == "failed" and "controller" in res.error and "\n" not in res.error
    assert imported == []


def test_huge_lr_diverges(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path, lr=1e9, warmup=0, grad_clip=0.0)
    res = b.run(RunSpec(b.space.center(), "s", 40, seed=0, run_id="boom"))
    assert res.status == "diverged" and ("nan" in res.error.lower() or "inf" in res.error.lower()
                                         or "non-finite" in res.error)
    assert res.cost < 1.0


def test_out_of_memory_is_a_failed_run(tiny_data, tmp_path, monkeypatch):
    b = make(tiny_data, tmp_path)

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(b.batcher(), "batch", oom)
    res = b.run(RunSpec(b.space.center(), "m", 20, seed=0, run_id="oom"))
    assert res.status == "failed" and "out of memory" in res.error


def test_bad_config_errors(tiny_data, tmp_path):
    with pytest.raises(BomixError, match="unknown scale"):
        make(tiny_data, tmp_path, scales=["xl"])
    with pytest.raises(BomixError, match="context"):
        make(tiny_data, tmp_path, context=10_000)
    with pytest.raises(BomixError, match="not a Python callable"):
        make(tiny_data, tmp_path, callback="os:system")


def test_campaign_stores_per_domain_curves_and_exports(tiny_data, tmp_path):
    import pickle

    from bomix.store import Store

    b = make(tiny_data, tmp_path, max_steps=20, min_steps=10)
    pickle.loads(pickle.dumps(b))  # executors send backends to other processes
    summary = run_campaign(b, RandomPolicy(), budget=2.0, seed=0, directory=tmp_path / "camp")
    assert summary["n_runs"] == 2 and summary["n_ok"] == 2
    st = Store(tmp_path / "camp")
    curves = st.to_pandas()["curves"]
    st.close()
    assert {"loss:prose", "loss:code", "loss:digits"} <= set(curves["metric"])
    df = export_campaign(tmp_path / "camp", tmp_path / "runs.csv")
    assert list(df.columns[:5]) == ["run_id", "scale", "params", "step", "tokens"]
    assert {"w:prose", "m:loss:digits"} <= set(df.columns)
    np.testing.assert_allclose(df[["w:prose", "w:code", "w:digits"]].sum(1), 1.0)
    assert len(df) == 2 * 2 and (tmp_path / "runs.csv").exists()
    with pytest.raises(BomixError):
        runs_to_table([], b.space.domains)
