"""hydra/sweeper=bomix with outcome constraints: the app returns a dict of metrics, the study models the constrained
one and recommends a mixture predicted feasible that is feasible in the app's ground truth."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app" / "train_tasks.py"
APP_SYNTHETIC = Path(__file__).resolve().parent / "app" / "train_synthetic.py"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _truth():
    return _load(APP)


def test_constrained_study_recommends_a_feasible_mixture(tmp_path):
    env = dict(os.environ, SWEEP_DIR=str(tmp_path / "sweep"), APP_LOG=str(tmp_path / "app.jsonl"),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, str(APP), "-m"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    jobs = [json.loads(line) for line in (tmp_path / "app.jsonl").read_text().splitlines()]
    assert len(jobs) == 9 and {(j["size"], j["steps"]) for j in jobs} == {("large", 400)}
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    c = summary["constraints"]
    assert c["bounds"] == ["books_acc >= 0.45"] and c["feasible"] is None  # a study has no ground truth ...
    assert c["predicted_feasible"] is True and c["predicted_feasibility"] >= 0.9
    truth = _truth()
    rec = summary["recommendation"]
    assert truth.books_acc(rec) >= 0.45 - 1e-6  # ... the app's is: the recommendation meets the constraint
    assert rec["books"] > truth.BEST["books"] + 0.05  # and the constraint moved it off the unconstrained optimum
    from bomix.store import StoreReader

    with StoreReader(tmp_path / "sweep") as st:  # the constrained metric is stored with every run
        results = st.load(["code", "web", "books"])[0]
    assert all("books_acc" in r.curve.metrics and "unused" not in r.curve.metrics for r in results)


def test_a_sweep_over_the_simulators_17_metrics_meets_its_constraint_in_the_truth(tmp_path):
    """The issue's case through the sweeper: 17 metrics, a normalised mean of 12 tasks, one constraint on a domain
    loss (no worse than the uniform mixture's, and binding: the unconstrained optimum breaks it)."""
    from bomix.objective import Objective

    app = _load(APP_SYNTHETIC)
    b = app.backend()
    t = b.space.target
    ref = {m: float(v[0]) for m, v in b.metrics_at(b.space.center().weights[None], t.scale, t.steps).items()}
    tasks = [f"task:{j}" for j in range(12)]
    objective = {"weights": {m: 1.0 for m in tasks}, "reference": {m: ref[m] for m in tasks},
                 "maximize": [m for m in tasks if b.task_directions()[m] == "maximize"]}
    free = b.metrics_at(b.optimum(Objective.from_config(objective))[0].weights[None], t.scale, t.steps)
    worst = max((f"loss:{d}" for d in b.space.domains), key=lambda m: free[m][0] / ref[m])
    assert free[worst][0] > ref[worst]  # the constraint binds
    spell = lambda d: "{" + ", ".join(f"{app.name(k)}: {v!r}" for k, v in d.items()) + "}"  # noqa: E731
    obj = (f"hydra.sweeper.objective={{weights: {spell(objective['weights'])}, reference: "
           f"{spell(objective['reference'])}, maximize: [{', '.join(map(app.name, objective['maximize']))}]}}")
    con = f"hydra.sweeper.constraints=[{{metric: {app.name(worst)}, max_relative: 0.0, reference: {ref[worst]!r}}}]"
    env = dict(os.environ, SWEEP_DIR=str(tmp_path / "sweep"), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, str(APP_SYNTHETIC), "-m", obj, con], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["n_runs"] == 9 and summary["constraints"]["predicted_feasible"] is True
    from bomix.store import StoreReader

    with StoreReader(tmp_path / "sweep") as st:  # the study models the 13 metrics it needs, of the 17 returned
        results = st.load(list(b.space.domains))[0]
    assert all(len(r.curve.metrics) == 13 for r in results)
    rec = b.space.mixture([summary["recommendation"][d] for d in b.space.domains])
    truth = b.metrics_at(rec.weights[None], t.scale, t.steps)
    assert truth[worst][0] <= ref[worst]  # feasible in the ground truth
