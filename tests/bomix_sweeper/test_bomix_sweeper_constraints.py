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


def _truth():
    spec = importlib.util.spec_from_file_location("train_tasks", APP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
