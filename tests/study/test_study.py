"""The ask/tell Study as a user drives it: a plain loop, two worker processes, waiting, bad input."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import time

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.study import Study

DOMAINS = ["code", "web", "books"]
LADDER = {"s": 1e6, "m": 4e6, "l": 1e7}
OPT = np.array([0.5, 0.3, 0.2])


def loss(mixture: dict, params: float = 1e7, steps: int = 400) -> float:
    w = np.array([mixture[d] for d in DOMAINS])
    return float(2.0 + 1e6 / params + 100 / steps + ((w - OPT) ** 2).sum())


def make(directory, policy="random", budget=2.0, **kw) -> Study:
    return Study.create(directory, domains=DOMAINS, ladder=LADDER, steps=[100, 400], objective="loss",
                        policy=policy, budget=budget, **kw)


def test_plain_loop_spends_the_budget_and_recommends_the_best(tmp_path):
    study = make(tmp_path / "s", budget=3.0)
    seen = []
    while (trial := study.ask()) is not None:
        assert abs(sum(trial.mixture.values()) - 1) < 1e-9 and (trial.scale, trial.steps) == ("l", 400)
        seen.append(trial.run_id)
        rec = study.tell(trial.run_id, value=loss(trial.mixture))
        assert rec["n_finished"] == len(seen)
    assert seen == ["r00000", "r00001", "r00002"]  # 3 target runs of cost 1 on a budget of 3
    best = study.best()
    values = {rid: loss(study.store.spec(rid, DOMAINS).mixture.to_dict()) for rid in seen}
    assert best["run_id"] == min(values, key=values.get) and best["value"] == pytest.approx(min(values.values()))
    assert study.recommend()["mixture"] == pytest.approx(best["mixture"])
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["budget_used"] == pytest.approx(3.0) and summary["n_runs"] == 3
    assert summary["best_observed"]["run_id"] == best["run_id"] and summary["policy_info"] == {}
    study.close()
    # reopened by another process later: same state, nothing more to run
    with Study.load(tmp_path / "s") as again:
        assert again.ask() is None and len(again.history().results) == 3


def test_ask_stores_the_spec_before_returning_it(tmp_path):
    with make(tmp_path / "s") as study:
        trial = study.ask()
    con = sqlite3.connect(tmp_path / "s" / "store.sqlite")
    status, charged, spec = con.execute("SELECT status, charged, spec FROM runs WHERE run_id = ?",
                                        (trial.run_id,)).fetchone()
    assert status == "pending" and charged == pytest.approx(1.0)
    assert json.loads(spec)["mixture"] == pytest.approx(list(trial.mixture.values()))
    # the "crashed" worker's run is still pending after a reopen; telling it later works
    with Study.load(tmp_path / "s") as study:
        assert [s.run_id for s in study.history().pending] == [trial.run_id]
        study.tell(trial.run_id, value=2.5)
        assert study.history().results[0].ok


def test_curves_metrics_failures_and_non_finite_values(tmp_path):
    with make(tmp_path / "s", budget=5.0) as study:
        a, b, c, d = (study.ask() for _ in range(4))
        study.tell(a.run_id, curve={"steps": [100, 400], "metrics": {"loss": [3.0, 2.4]}})
        study.tell(b.run_id, curve=[(100, 3.1), (200, 2.9), (400, 2.2)])
        study.tell(c.run_id, status="failed", error="node lost")
        study.tell(d.run_id, value=float("nan"))
        res = {r.spec.run_id: r for r in study.history().results}
        assert res[a.run_id].curve.steps.tolist() == [100, 400]
        assert res[c.run_id].status == "failed" and res[c.run_id].error == "node lost"
        assert res[d.run_id].status == "diverged"
        assert study.best()["run_id"] == b.run_id and study.best()["value"] == pytest.approx(2.2)
        with pytest.raises(BomixError, match="already told"):
            study.tell(a.run_id, value=1.0)
        with pytest.raises(BomixError, match="unknown run id"):
            study.tell("r99999", value=1.0)
        with pytest.raises(BomixError, match="steps must increase within 1..400"):
            study.tell(study.ask().run_id, curve={"steps": [500], "metrics": {"loss": [1]}})


@pytest.mark.parametrize("kw, message", [
    ({"domains": ["a"]}, "needs >= 2 domains"),
    ({"ladder": {}}, "ladder must map"),
    ({"steps": []}, "steps is empty"),
    ({"policy": "nope"}, "unknown policy 'nope'"),
    ({"budget": float("nan")}, "finite number > 0"),
    ({"objective": {"mean": ["a"], "maximize": "b"}}, "exactly one of"),
    ({"target": ["xl", 400]}, "unknown scale 'xl'"),
])
def test_bad_arguments_fail_in_one_line_and_write_nothing(tmp_path, kw, message):
    args = dict(domains=DOMAINS, ladder=LADDER, steps=[100, 400], objective="loss", policy="random", budget=1.0)
    args.update(kw)
    with pytest.raises(BomixError, match=message):
        Study.create(tmp_path / "s", **args)
    assert not (tmp_path / "s").exists()


def test_create_refuses_another_config_and_exist_ok_opens_an_equal_one(tmp_path):
    make(tmp_path / "s").close()
    with pytest.raises(BomixError, match="already exists"):
        make(tmp_path / "s")
    with pytest.raises(BomixError, match="different policy"):
        make(tmp_path / "s", policy="uniform", exist_ok=True)
    with make(tmp_path / "s", budget=5.0, exist_ok=True) as study:  # same config, larger budget
        assert study.budget == 5.0
    with pytest.raises(BomixError, match="no study"):
        Study.load(tmp_path / "nothing")


def test_a_waiting_policy_blocks_until_the_pending_run_is_told(tmp_path):
    """policy=fixed with evaluate=true runs one target run: a second worker waits for it, then is done."""
    d = tmp_path / "s"
    pol = {"name": "fixed", "mixture": {"code": 0.5, "web": 0.3, "books": 0.2}, "evaluate": True}
    first = make(d, policy=pol)
    second = Study.load(d)
    trial = first.ask()
    assert second.ask(wait=False) is None  # nothing to run now: the policy waits for the pending run
    t0 = time.monotonic()
    assert second.ask(timeout=0.3, poll=0.05) is None and time.monotonic() - t0 >= 0.3
    first.tell(trial.run_id, value=2.1)
    assert second.ask(poll=0.05) is None  # done now
    assert second.recommend()["mixture"] == pytest.approx(pol["mixture"])
    first.close(), second.close()


def _worker(directory: str, seed: int, out, start) -> None:
    rng = np.random.default_rng(seed)
    study = Study.load(directory)
    start.wait(timeout=120)  # both workers open the study before either asks
    told = []
    while (trial := study.ask(poll=0.02)) is not None:
        time.sleep(float(rng.uniform(0.05, 0.1)))  # training
        study.tell(trial.run_id, value=loss(trial.mixture, trial.params, trial.steps))
        told.append(trial.run_id)
    study.close()
    out.put(told)


@pytest.mark.parametrize("policy", ["random", {"name": "mfbo", "n_init": 3, "gp": {"maxiter": 10},
                                               "search": {"raw_samples": 32, "starts": 2, "iters": 5}}])
def test_two_worker_processes_share_a_study(tmp_path, policy):
    d = tmp_path / "s"
    budget = 6.0 if policy == "random" else 0.6
    make(d, policy=policy, budget=budget).close()
    ctx = mp.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_worker, args=(str(d), i, out, start)) for i in range(2)]
    for p in procs:
        p.start()
    told = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    con = sqlite3.connect(d / "store.sqlite")
    rows = con.execute("SELECT run_id, status, charged, spec FROM runs ORDER BY idx").fetchall()
    ids = [r[0] for r in rows]
    assert sorted(told[0] + told[1]) == ids and not set(told[0]) & set(told[1])  # each run told once
    assert all(r[1] == "ok" for r in rows)  # nothing left pending
    assert sum(r[2] for r in rows) <= budget + 1e-9  # never overspent
    mixtures = [tuple(np.round(json.loads(r[3])["mixture"], 12)) for r in rows]
    fids = [(json.loads(r[3])["scale"], json.loads(r[3])["steps"]) for r in rows]
    assert len(set(zip(mixtures, fids))) == len(rows)  # no decision was made twice (pending runs respected)
    if policy == "random":
        assert len(rows) == 6 and min(len(t) for t in told) >= 1


def test_continuation_trials_resume_and_pay_only_their_extra_steps(tmp_path):
    """With continuation=True, a policy may continue a shorter run (Hyperband promotes its survivors this way);
    the script trains only the extra steps and pays only for them."""
    study = Study.create(tmp_path / "s", domains=DOMAINS, ladder=LADDER, steps=[100, 200, 400], objective="loss",
                         policy="hyperband", budget=3.0, continuation=True, seed=1)
    resumed = []
    while (t := study.ask()) is not None:
        start = t.resume_step + 1 if t.resume_from else 1
        steps = [s for s in (100, 200, 300, 400) if start <= s <= t.steps]
        curve = {"steps": steps, "metrics": {"loss": [loss(t.mixture, t.params, s) for s in steps]}}
        study.tell(t.run_id, curve=curve)
        if t.resume_from:
            resumed.append(t)
    assert resumed, "the policy never continued a run"
    res = {r.spec.run_id: r for r in study.history().results}
    for t in resumed:
        parent = res[t.resume_from]
        assert parent.spec.mixture.to_dict() == pytest.approx(t.mixture) and parent.spec.scale == t.scale
        full = res[t.run_id].curve
        assert full.steps[0] == parent.curve.steps[0] and full.steps[-1] == t.steps  # parent's steps + the new ones
        assert t.cost == pytest.approx(study.problem.cost(t.scale, t.steps, t.resume_step))
        assert t.cost < study.problem.cost(t.scale, t.steps)
    assert study.history().spent <= 3.0 + 1e-9
    study.close()
