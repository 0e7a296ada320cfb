"""A Study with many metrics and an outcome constraint: the synthetic backend's tasks are the user's training script,
the study's mfbo models the constraint and recommends a mixture predicted feasible, feasible in the ground truth."""

from __future__ import annotations

import json

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import RunSpec
from bomix.study import Study

FAST_MFBO = {"name": "mfbo", "n_init": 6, "fidelities": ["1B@20000"],
             "search": {"raw_samples": 32, "starts": 2, "iters": 5},
             "gp": {"maxiter": 10, "law": False, "level": False, "invariant": False, "cold_start": False}}


def _problem(b: SyntheticBackend) -> dict:
    """A normalised objective over the tasks and a binding constraint on a domain loss (reference: uniform)."""
    t = b.space.target
    ref = {m: float(v[0]) for m, v in b.metrics_at(b.space.center().weights[None], t.scale, t.steps).items()}
    tasks = [f"task:{j}" for j in range(b.tasks)]
    objective = {"weights": {m: 1.0 for m in tasks}, "reference": {m: ref[m] for m in tasks},
                 "maximize": [m for m in tasks if b.task_directions()[m] == "maximize"]}
    obj = Objective.from_config(objective)
    free = b.metrics_at(b.optimum(obj)[0].weights[None], t.scale, t.steps)
    worst = max((f"loss:{d}" for d in b.space.domains), key=lambda m: free[m][0] / ref[m])
    assert free[worst][0] > ref[worst]  # the constraint binds: the unconstrained optimum breaks it
    return {"objective": objective, "constraints": [{"metric": worst, "max_relative": 0.0, "reference": ref[worst]}]}


def test_study_with_a_constraint_recommends_a_feasible_mixture(tmp_path):
    b = SyntheticBackend(k=4, seed=0, tasks=12, noise=0.005)  # 17 metrics: 12 tasks, 4 domain losses, the target's
    ladder = {s.name: s.params for s in b.space.scales}
    prob = _problem(b)
    metric = prob["constraints"][0]["metric"]
    study = Study.create(tmp_path / "s", domains=list(b.space.domains), ladder=ladder, steps=[500, 20000],
                         policy=FAST_MFBO, budget=9.0, **prob)
    assert set(study.problem.metrics) == {f"task:{j}" for j in range(12)} | {metric}  # objective's + constraint's
    while (trial := study.ask()) is not None:
        res = b.run(RunSpec(study.space.mixture(list(trial.mixture.values())), trial.scale, trial.steps,
                            seed=trial.seed))
        rec = study.tell(trial.run_id, metrics={m: res.curve.final()[m] for m in study.problem.metrics})
    assert rec["n_finished"] == 9 and rec["pred_feasible"] >= 0.9
    t = b.space.target
    truth = b.metrics_at(study.space.mixture(list(rec["mixture"].values())).weights[None], t.scale, t.steps)
    bound = prob["constraints"][0]["reference"]
    assert truth[metric][0] <= bound  # feasible in the ground truth
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["constraints"]["predicted_feasible"] is True and summary["constraints"]["feasible"] is None
    assert study.recommend()["pred_feasible"] == pytest.approx(rec["pred_feasible"])
    study.close()
    again = Study.load(tmp_path / "s")  # the stored config (with its constraints) reopens
    assert again.problem.constraints == study.problem.constraints
    again.close()
    with pytest.raises(BomixError, match="different constraints"):
        Study.create(tmp_path / "s", domains=list(b.space.domains), ladder=ladder, steps=[500, 20000],
                     policy=FAST_MFBO, budget=9.0, exist_ok=True, objective=prob["objective"],
                     constraints=[{"metric": metric, "max": 1.0}])


def test_bad_study_constraints_are_one_line(tmp_path):
    with pytest.raises(BomixError) as info:
        Study.create(tmp_path / "s", domains=["a", "b"], ladder={"s": 1e6}, steps=100, objective="loss",
                     budget=1.0, metrics=["loss"], constraints=[{"metric": "acc", "min": 0.5}])
    assert "constrains unknown metric 'acc'" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "s").exists()


def test_bomix_ask_creates_a_study_with_constraints(tmp_path, capsys):
    from bomix.cli import main

    d = str(tmp_path / "s")
    create = ["--domains", "a,b,c", "--ladder", "s=1e6,l=1e7", "--steps", "100,400", "--objective", "loss",
              "--budget", "2", "--policy", "random", "--constraints", '[{"metric": "acc", "min": 0.4}]']
    assert main(["ask", d, *create]) == 0
    trial = json.loads(capsys.readouterr().out)
    study = Study.load(d)
    assert [c.label for c in study.problem.constraints] == ["acc >= 0.4"] and "acc" in study.problem.metrics
    study.close()
    assert main(["tell", d, trial["run_id"], "--metrics", '{"loss": 2.0, "acc": 0.5}']) == 0
    capsys.readouterr()
    assert main(["ask", d, "--constraints", "[]"]) == 2  # a creation option: an existing study keeps its own
    assert "--constraints: creation options" in capsys.readouterr().err
    assert main(["ask", str(tmp_path / "t"), *create[:-1], "not json"]) == 2
    assert "--constraints is not valid JSON" in capsys.readouterr().err
