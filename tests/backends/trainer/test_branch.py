"""Trainer branches: a scheduled run saves its phase boundaries; a branch resumes there, trains only the
remaining steps on its own schedule and ends where the same schedule trained from scratch ends."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.phased import PhasedBackend
from bomix.backends.trainer import checkpoint as ckpt
from bomix.campaign import Campaign, ProblemConfig
from bomix.phases import Phases
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import RunSpec
from bomix.store import StoreReader

from .test_backend import make

TWO = [{"name": "pre", "fraction": 0.6}, {"name": "anneal", "fraction": 0.4}]  # 20 steps: boundary at 12


def phased(tiny_data, tmp_path) -> PhasedBackend:
    return PhasedBackend(make(tiny_data, tmp_path, max_steps=20), Phases.from_config(TWO))


def point(b: PhasedBackend, anneal: dict):
    return b.space.mixture({"pre": {"prose": 0.5, "code": 0.3, "digits": 0.2}, "anneal": anneal})


def test_branch_resumes_from_the_boundary_and_equals_the_schedule_from_scratch(tiny_data, tmp_path):
    b = phased(tiny_data, tmp_path)
    parent = b.run(RunSpec(point(b, {"code": 1.0}), "s", 20, seed=3, run_id="r00000"))
    assert parent.ok and list(parent.curve.steps) == [10, 20]
    at = b.inner.checkpoint_path("r00000") / "step-12"
    assert ckpt.exists(at) and ckpt.load_state(at)["step"] == 12
    assert json.loads((at / ckpt.STATE_FILE).read_text())["steps"] == [10]  # the curve so far, as JSON
    ckpt.load_tensors(at)  # tensors only: loads with weights_only=True

    new = point(b, {"digits": 0.7, "prose": 0.3})
    branch = b.run(RunSpec(new, "s", 20, seed=3, run_id="r00001", resume_from="r00000", resume_step=12))
    scratch = b.run(RunSpec(new, "s", 20, seed=3, run_id="r00002"))
    assert branch.ok and scratch.ok
    assert branch.info["start_step"] == 12 and branch.info["tokens"] == 8 * 4 * 16  # only S - b steps trained
    assert branch.cost == pytest.approx(b.inner.cost_model("s", 20, 12)) == pytest.approx(0.4 * scratch.cost)
    assert b.cost(branch.spec) == pytest.approx(branch.cost)
    # its curve is the whole curve: the parent's points up to the boundary, then its own
    assert list(branch.curve.steps) == [10, 20]
    for m in b.metrics:
        assert branch.curve.metrics[m][0] == parent.curve.metrics[m][0]
        np.testing.assert_allclose(branch.curve.metrics[m], scratch.curve.metrics[m], rtol=0, atol=1e-6)
    # the anneals differ, so the final states differ from the parent's
    assert not np.allclose(branch.curve.metrics["loss:digits"][-1], parent.curve.metrics["loss:digits"][-1])
    # the realised schedule switches at the boundary in both
    assert branch.info["schedule"]["starts"] == scratch.info["schedule"]["starts"] == [0, 12]


def test_a_step_that_is_no_saved_boundary_fails_the_run_in_one_line(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path, max_steps=20)
    static = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="r00000"))
    assert static.ok and not (b.checkpoint_path("r00000") / "step-12").exists()  # static runs save no boundary
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="r00001", resume_from="r00000", resume_step=12))
    assert res.status == "failed" and "has no checkpoint at step 12" in res.error and "\n" not in res.error


@pytest.mark.slow  # ~10 s: four tiny trainer runs through a campaign
def test_pinned_trunk_campaign_on_the_trainer_branches_every_run_after_the_first(tiny_data, tmp_path):
    pinned = [{"name": "pre", "fraction": 0.6, "mixture": [0.5, 0.3, 0.2]}, {"name": "anneal", "fraction": 0.4}]
    backend = make(tiny_data, tmp_path, max_steps=20, step_grid=[20])
    with Campaign(backend, RandomPolicy(scale="s", steps=20), budget=10.0, seed=0, directory=tmp_path / "camp",
                  problem=ProblemConfig(phases=pinned), max_runs=4) as c:
        s = c.run()
    assert s["n_ok"] == 4
    with StoreReader(tmp_path / "camp") as st:
        runs = st.load(st.get_meta("domains"))[0]
    full = backend.cost_model("s", 20)
    assert runs[0].spec.resume_from is None and runs[0].cost == pytest.approx(full)
    for r in runs[1:]:
        assert (r.spec.resume_from, r.spec.resume_step, r.spec.seed) == ("r00000", 12, runs[0].spec.seed)
        assert r.cost == pytest.approx(0.4 * full) and r.info["start_step"] == 12
        assert r.curve.metrics["loss:prose"][0] == runs[0].curve.metrics["loss:prose"][0]  # the shared trunk
