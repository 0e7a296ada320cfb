"""hydra/sweeper=bomix over a two-phase app: each job gets one mixture per phase and each phase's first step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_bomix_sweeper import app_log, runs

APP = Path(__file__).resolve().parent / "app" / "train_phases.py"


def sweep(tmp_path, *overrides):
    env = dict(os.environ, SWEEP_DIR=str(tmp_path / "sweep"), APP_LOG=str(tmp_path / "app.jsonl"),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, str(APP), "-m", *overrides], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_each_job_trains_the_schedule_bomix_asked_for(tmp_path):
    p = sweep(tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    jobs, stored = app_log(tmp_path), runs(tmp_path)
    assert len(jobs) == len(stored) == 3 and all(r[1] == "ok" for r in stored)
    for job, row in zip(jobs, stored):
        spec = json.loads(row[3])
        x = spec["mixture"]  # the flat point: pretrain/code, pretrain/web, pretrain/books, anneal/...
        f_pre, f_ann = sum(x[:3]), sum(x[3:])
        assert f_pre == pytest.approx(0.8) and f_ann == pytest.approx(0.2)
        assert [job["phases"]["pretrain"][d] for d in ("code", "web", "books")] == pytest.approx(
            [v / f_pre for v in x[:3]], abs=1e-9)
        assert [job["phases"]["anneal"][d] for d in ("code", "web", "books")] == pytest.approx(
            [v / f_ann for v in x[3:]], abs=1e-9)
        assert job["starts"] == {"pretrain": 0, "anneal": round(0.8 * job["steps"])}
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert [p["phase"] for p in summary["schedule"]] == ["pretrain", "anneal"]


def test_a_mixture_key_without_phase_is_refused_in_one_line(tmp_path):
    p = sweep(tmp_path, "hydra.sweeper.keys.mixture='data.weights.{domain}'")
    assert p.returncode != 0
    assert "keys.mixture must contain {phase} and {domain}" in p.stderr


def test_a_pinned_trunk_with_continuation_launches_branches(tmp_path):
    """continuation=true and a pinned first phase: every job after the first starts from the first one's state at
    the boundary (keys.resume_from / keys.resume_step) and is charged only the anneal's steps."""
    p = sweep(tmp_path, "hydra.sweeper.phases=[{name: pretrain, fraction: 0.8, mixture: {code: 0.5, web: 0.3, "
              "books: 0.2}}, {name: anneal, fraction: 0.2}]", "hydra.sweeper.continuation=true",
              "hydra.sweeper.budget=2.5", "hydra.sweeper.keys.resume_from=trainer.resume_from",
              "hydra.sweeper.keys.resume_step=trainer.resume_step")
    assert p.returncode == 0, p.stderr[-3000:]
    jobs, stored = app_log(tmp_path), runs(tmp_path)
    # random prices its next run as a full one, so it stops with less than 1 left: 1 + 3 x 0.2 target runs
    assert len(jobs) == len(stored) == 4 and all(r[1] == "ok" for r in stored)
    assert [r[2] for r in stored] == pytest.approx([1.0, 0.2, 0.2, 0.2])
    assert jobs[0]["resume"] == [None, None]
    first = stored[0][0]
    assert all(j["resume"] == [first, 320] and j["starts"]["anneal"] == 320 for j in jobs[1:])
    assert all(j["phases"]["pretrain"] == pytest.approx({"code": 0.5, "web": 0.3, "books": 0.2}) for j in jobs)
