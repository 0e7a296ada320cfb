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
