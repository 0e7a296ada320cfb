"""A Study with a trade-off (``objectives`` + ``preference``): mobo proposes runs through ask/tell, summary.json and
recommend() report the Pareto set with the preference's member, the config reopens, ``bomix ask --objectives``
creates one, and a bad trade-off is one line before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.errors import BomixError
from bomix.pareto import non_dominated
from bomix.runs import RunSpec
from bomix.study import Study

torch.set_num_threads(1)
OBJECTIVES = [{"name": "code", "maximize": "task:0"}, {"name": "web", "metric": "task:1"}]
OBJECTIVE = {"weights": {"task:0": 0.7, "task:1": 0.3}, "maximize": ["task:0"]}
MOBO = {"name": "mobo", "n_init": 4, "fidelities": ["150M@20000", "1B@20000"], "gp": {"maxiter": 15},
        "search": {"raw_samples": 32, "starts": 2, "iters": 5}, "mc_samples": 16, "n_candidates": 128,
        "max_per_run": 2}


def test_study_with_objectives_reports_a_pareto_set(tmp_path):
    b = SyntheticBackend(tasks=3, seed=0, noise=0.01)
    ladder = {s.name: s.params for s in b.space.scales}
    study = Study.create(tmp_path / "s", domains=list(b.space.domains), ladder=ladder, steps=[20000],
                         objective=OBJECTIVE, policy=MOBO, budget=2.5, objectives=OBJECTIVES,
                         preference={"code": 0.7, "web": 0.3})
    assert set(study.problem.metrics) == {"task:0", "task:1"}  # the scalar objective's and the trade-off's
    assert study.problem.preference == pytest.approx((0.7, 0.3))
    n = 0
    while n < 8 and (trial := study.ask()) is not None:
        res = b.run(RunSpec(study.space.mixture(list(trial.mixture.values())), trial.scale, trial.steps,
                            seed=trial.seed))
        rec = study.tell(trial.run_id, metrics={m: res.curve.final()[m] for m in study.problem.metrics})
        n += 1
    front = rec["pareto"]
    assert front["source"] == "model" and front["objectives"] == ["code", "web"] and front["hv_regret"] is None
    members = front["set"]
    assert len(members) >= 2 and all(set(m["predicted"]) == {"code", "web"} for m in members)
    assert front["recommendation"] is not None
    assert members[front["recommendation"]]["mixture"] == pytest.approx(rec["mixture"])
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["pareto"]["set"] == json.loads(json.dumps(members))
    assert summary["pareto"]["recommendation"] == front["recommendation"]
    again = study.pareto(plot=True)  # the same set, and the figure in the study directory
    assert again["set"] == members and (tmp_path / "s" / "pareto.png").stat().st_size > 10_000
    study.close()
    reopened = Study.load(tmp_path / "s")
    assert [o.name for o in reopened.problem.objectives] == ["code", "web"]
    assert reopened.recommend()["pareto"]["set"] == members
    reopened.close()
    with pytest.raises(BomixError, match="different preference"):
        Study.create(tmp_path / "s", domains=list(b.space.domains), ladder=ladder, steps=[20000], objective=OBJECTIVE,
                     policy=MOBO, budget=2.5, objectives=OBJECTIVES, preference={"code": 0.2, "web": 0.8},
                     exist_ok=True)


def test_study_without_a_model_reports_the_observed_front(tmp_path):
    """A random study with objectives reports the non-dominated runs it observed at the target."""
    b = SyntheticBackend(tasks=3, seed=0, noise=0.01)
    ladder = {s.name: s.params for s in b.space.scales}
    study = Study.create(tmp_path / "s", domains=list(b.space.domains), ladder=ladder, steps=[20000],
                         objective=OBJECTIVE, policy="random", budget=6.0, objectives=OBJECTIVES,
                         target=["1B", 20000])
    while (trial := study.ask()) is not None:
        res = b.run(RunSpec(study.space.mixture(list(trial.mixture.values())), trial.scale, trial.steps,
                            seed=trial.seed))
        rec = study.tell(trial.run_id, metrics={m: res.curve.final()[m] for m in study.problem.metrics})
    front = rec["pareto"]
    assert front["source"] == "observed" and all(set(m["observed"]) == {"code", "web"} for m in front["set"])
    Y = np.array([[m["observed"]["code"], m["observed"]["web"]] for m in front["set"]])  # lower is better
    assert len(Y) >= 2 and non_dominated(Y).all()
    W = np.array([list(m["mixture"].values()) for m in front["set"]])
    assert front["recommendation"] == int(np.argmin(np.abs(W - list(rec["mixture"].values())).sum(1)))
    study.close()


def test_bad_study_objectives_are_one_line(tmp_path):
    with pytest.raises(BomixError) as info:
        Study.create(tmp_path / "s", domains=["a", "b"], ladder={"s": 1e6}, steps=100, objective="loss",
                     budget=1.0, metrics=["loss", "acc"], objectives=[{"name": "x", "metric": "loss"},
                                                                       {"name": "y", "maximize": "bleu"}])
    assert "bleu" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(BomixError, match="preference"):
        Study.create(tmp_path / "s", domains=["a", "b"], ladder={"s": 1e6}, steps=100, objective="loss",
                     budget=1.0, preference={"x": 1.0})
    assert not (tmp_path / "s").exists()


def test_bomix_ask_creates_a_study_with_objectives(tmp_path, capsys):
    from bomix.cli import main

    d = str(tmp_path / "s")
    create = ["--domains", "a,b,c", "--ladder", "s=1e6,l=1e7", "--steps", "100,400", "--objective", "loss",
              "--budget", "2", "--policy", "random", "--objectives",
              '[{"name": "fit", "metric": "loss"}, {"name": "acc", "maximize": "acc"}]', "--preference",
              '{"fit": 0.25, "acc": 0.75}']
    assert main(["ask", d, *create]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"]
    study = Study.load(d)
    assert study.problem.metrics == ("loss", "acc") and study.problem.preference == pytest.approx((0.25, 0.75))
    study.close()
    assert main(["ask", d, "--preference", '{"fit": 1}']) == 2
    assert "--preference: creation options" in capsys.readouterr().err
