"""hydra/sweeper=bomix with a trade-off: the app's dict gives both objectives' metrics, the study (mobo) proposes the
runs, and the sweep ends with a Pareto set in summary.json and pareto.png in the study directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent / "app" / "train_tasks.py"


def test_sweep_with_objectives_reports_a_pareto_set(tmp_path):
    env = dict(os.environ, SWEEP_DIR=str(tmp_path / "sweep"), APP_LOG=str(tmp_path / "app.jsonl"),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    args = ["--config-name", "train_tasks_moo"]  # app/conf/train_tasks_moo.yaml
    p = subprocess.run([sys.executable, str(APP), "-m", *args], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    jobs = [json.loads(line) for line in (tmp_path / "app.jsonl").read_text().splitlines()]
    assert len(jobs) == 6 and {(j["size"], j["steps"]) for j in jobs} == {("large", 400)}
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    front = summary["pareto"]
    assert front["objectives"] == ["fit", "books"] and front["source"] == "model"
    assert front["preference"] == {"fit": 0.5, "books": 0.5}
    # the trade-off is real (books help the accuracy and cost the loss): the set spans different books weights
    books = [m["mixture"]["books"] for m in front["set"]]
    assert len(books) >= 2 and max(books) - min(books) > 0.1
    assert front["set"][front["recommendation"]]["mixture"] == pytest.approx(summary["recommendation"], abs=1e-9)
    assert (tmp_path / "sweep" / "pareto.png").stat().st_size > 10_000
    assert "bomix Pareto set:" in p.stderr + p.stdout


def test_sweep_with_a_bad_preference_is_one_line(tmp_path):
    env = dict(os.environ, SWEEP_DIR=str(tmp_path / "sweep"), APP_LOG=str(tmp_path / "app.jsonl"))
    args = ["--config-name", "train_tasks_moo", "hydra.sweeper.preference.fit=-1"]
    p = subprocess.run([sys.executable, str(APP), "-m", *args], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("bomix: error: problem.preference weight of fit must be >= 0")
    assert not (tmp_path / "app.jsonl").exists()
