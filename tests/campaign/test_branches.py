"""Branch runs on a phased space (bomix/campaign/branches.py): the campaign rewrites a proposed point that shares a
schedule prefix with a finished run into a branch of it, charges only the remaining steps, refuses a bad branch in
one line, and a pinned trunk makes every run after the first a branch."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.backends.phased import PhasedBackend
from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, ProblemConfig
from bomix.campaign.branches import branch_for, shared_boundary
from bomix.campaign.checks import Host, validate_spec
from bomix.campaign.problem import build_problem
from bomix.errors import BomixError
from bomix.history import History
from bomix.phases import Phases
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import RunSpec
from bomix.store import StoreReader

TWO = [{"name": "pre", "fraction": 0.8}, {"name": "anneal", "fraction": 0.2}]
THREE = [{"name": "pre", "fraction": 0.6}, {"name": "mid", "fraction": 0.2}, {"name": "anneal", "fraction": 0.2}]
PINNED = [{"name": "pre", "fraction": 0.8, "mixture": {"d0": 0.4, "d1": 0.3, "d2": 0.2, "d3": 0.1}},
          {"name": "anneal", "fraction": 0.2}]
PRE = {"d0": 0.5, "d1": 0.5}


def setup(phases=TWO, **kw):
    backend = PhasedBackend(SyntheticBackend(k=4, anneal=0.5, **kw), Phases.from_config(phases))
    problem = build_problem(backend, ProblemConfig(phases=phases))
    history = History(problem.space, problem.objective, [], [], float("inf"), 0.0)
    return backend, problem, Host.of_backend(backend), history


def finish(backend, history, spec: RunSpec, run_id: str):
    res = backend.run(spec.with_(run_id=run_id))
    history.finish(res)
    return res


def test_a_branch_costs_its_remaining_steps_and_its_curve_is_the_schedule_from_scratch():
    b, problem, host, history = setup(noise=0.01)
    S = 2000
    parent = finish(b, history, RunSpec(b.space.mixture({"pre": PRE, "anneal": {"d3": 1.0}}), "60M", S, seed=7),
                    "r00000")
    new = RunSpec(b.space.mixture({"pre": PRE, "anneal": {"d1": 0.2, "d2": 0.8}}), "60M", S)
    spec = branch_for(problem.space, new, history)
    assert (spec.resume_from, spec.resume_step) == ("r00000", 1600)
    spec = validate_spec(problem, host, spec, history).with_(seed=7, run_id="r00001")
    branch = b.run(spec)
    scratch = b.run(RunSpec(new.mixture, "60M", S, seed=7, run_id="r00002"))
    full = b.inner.cost_model("60M", S)
    assert b.cost(spec) == pytest.approx(b.inner.cost_model("60M", S) - b.inner.cost_model("60M", 1600))
    assert branch.cost == pytest.approx(0.2 * full) and scratch.cost == pytest.approx(full)
    np.testing.assert_array_equal(branch.curve.steps, scratch.curve.steps)
    for m in b.metrics:
        np.testing.assert_array_equal(branch.curve.metrics[m], scratch.curve.metrics[m])
    # noiseless: the branch's points up to the boundary are the parent's (the shared trunk)
    b0, problem0, _, h0 = setup()
    p0 = finish(b0, h0, parent.spec, "r00000")
    br0 = b0.run(spec)
    before = br0.curve.steps <= 1600
    np.testing.assert_array_equal(br0.curve.metrics["loss:target"][before], p0.curve.metrics["loss:target"][before])
    assert not np.allclose(br0.curve.metrics["loss:target"][-1], p0.curve.metrics["loss:target"][-1])


def test_the_latest_shared_boundary_is_chosen_and_repeats_or_other_fidelities_are_not_branched():
    b, problem, host, history = setup(THREE)
    x = {"pre": PRE, "mid": {"d2": 1.0}, "anneal": {"d3": 1.0}}
    S = 1000
    finish(b, history, RunSpec(b.space.mixture(x), "20M", S, seed=1), "r00000")
    finish(b, history, RunSpec(b.space.mixture({**x, "anneal": {"d0": 1.0}}), "20M", S, seed=2), "r00001")
    same_mid = RunSpec(b.space.mixture({**x, "anneal": {"d1": 1.0}}), "20M", S)
    out = branch_for(problem.space, same_mid, history)
    assert (out.resume_from, out.resume_step) == ("r00000", 800)  # ties: the earliest run
    other_mid = RunSpec(b.space.mixture({**x, "mid": {"d0": 1.0}}), "20M", S)
    assert branch_for(problem.space, other_mid, history).resume_step == 600
    assert branch_for(problem.space, RunSpec(b.space.mixture(x), "20M", S), history).resume_from is None  # a repeat
    assert branch_for(problem.space, same_mid.with_(steps=500), history).resume_from is None
    assert branch_for(problem.space, same_mid.with_(scale="60M"), history).resume_from is None
    assert branch_for(problem.space, same_mid.with_(seed=5), history).resume_from is None  # asks another seed
    assert branch_for(problem.space, same_mid.with_(seed=2), history).resume_from == "r00001"
    sa = problem.space.schedule(same_mid.mixture, S)
    assert shared_boundary(sa, problem.space.schedule(other_mid.mixture, S)) == 600


@pytest.mark.parametrize("change, msg", [
    (dict(resume_step=500), "is not a branch: both runs must start a phase at step 500"),
    (dict(mixture="other_pre"), "is not a branch"),
    (dict(steps=1200), "same scale and steps"),
    (dict(resume_from="r00009"), "is not a finished ok run"),
    (dict(resume_from="../x"), "is not a bomix run id"),
    (dict(seed=99), "trains on its parent's seed 1"),
])
def test_bad_branches_are_refused_in_one_line(change, msg):
    b, problem, host, history = setup()
    finish(b, history, RunSpec(b.space.mixture({"pre": PRE, "anneal": {"d3": 1.0}}), "20M", 1000, seed=1), "r00000")
    mix = b.space.mixture({"pre": PRE, "anneal": {"d0": 1.0}})
    if change.get("mixture") == "other_pre":
        change["mixture"] = b.space.mixture({"pre": {"d2": 1.0}, "anneal": {"d0": 1.0}})
    spec = RunSpec(mix, "20M", 1000, seed=1, resume_from="r00000", resume_step=800).with_(**change)
    with pytest.raises(BomixError, match=msg) as e:
        validate_spec(problem, host, spec, history)
    assert "\n" not in str(e.value)


def test_a_branch_of_a_branch_must_start_where_its_parent_holds_state():
    b, problem, host, history = setup()
    finish(b, history, RunSpec(b.space.mixture({"pre": PRE, "anneal": {"d3": 1.0}}), "20M", 1000, seed=1), "r00000")
    child = RunSpec(b.space.mixture({"pre": PRE, "anneal": {"d2": 1.0}}), "20M", 1000, seed=1, resume_from="r00000",
                    resume_step=800)
    finish(b, history, validate_spec(problem, host, child, history), "r00001")
    grandchild = child.with_(mixture=b.space.mixture({"pre": PRE, "anneal": {"d1": 1.0}}), resume_from="r00001")
    with pytest.raises(BomixError, match="itself started at step 800, so it holds no state"):
        validate_spec(problem, host, grandchild, history)
    assert branch_for(problem.space, grandchild.with_(resume_from=None, resume_step=0), history).resume_from == \
        "r00000"  # the campaign branches from the trunk's own run


def test_pinned_trunk_campaign_branches_every_run_after_the_first(tmp_path):
    runs_n, S = 8, 1000
    with Campaign(SyntheticBackend(k=4, anneal=0.5, noise=0.01), RandomPolicy(scale="20M", steps=S), budget=10.0,
                  seed=3, directory=tmp_path, problem=ProblemConfig(phases=PINNED), max_runs=runs_n) as c:
        s = c.run()
        full = c.backend.inner.cost_model("20M", S)
    assert s["n_ok"] == runs_n
    with StoreReader(tmp_path) as st:
        runs = st.load(st.get_meta("domains"))[0]
    assert runs[0].spec.resume_from is None
    assert all((r.spec.resume_from, r.spec.resume_step, r.spec.seed) == ("r00000", 800, runs[0].spec.seed)
               for r in runs[1:])
    assert sum(r.cost for r in runs) == pytest.approx(full * (1 + 0.2 * (runs_n - 1)))
    assert s["budget_used"] == pytest.approx(full * (1 + 0.2 * (runs_n - 1)))
    W = np.array([r.spec.mixture.weights for r in runs]).reshape(runs_n, 2, 4)
    assert np.allclose(W[:, 0], [0.32, 0.24, 0.16, 0.08]) and np.ptp(W[:, 1], axis=0).max() > 0.05
    # each branch's curve is its schedule trained from scratch with the trunk's seed
    b = c.backend
    for r in runs[1:3]:
        scratch = b.run(r.spec.with_(resume_from=None, resume_step=0))
        np.testing.assert_array_equal(r.curve.metrics["loss:target"], scratch.curve.metrics["loss:target"])


def test_searched_phases_never_branch_and_keep_their_store(tmp_path):
    ranged = [{"name": "pre", "fraction": [0.6, 0.9]}, {"name": "anneal", "fraction": [0.1, 0.4]}]
    with Campaign(SyntheticBackend(k=4, anneal=0.5, noise=0.01), RandomPolicy(scale="20M", steps=1000),
                  budget=10.0, seed=1, directory=tmp_path, problem=ProblemConfig(phases=ranged), max_runs=5) as c:
        c.run()
    with StoreReader(tmp_path) as st:
        runs = st.load(st.get_meta("domains"))[0]
    assert [r.spec.resume_from for r in runs] == [None] * 5
