"""hydra/sweeper=bomix drives a user's own Hydra app (tests/bomix_sweeper/app/train.py) as a user would."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent / "app" / "train.py"


def sweep(tmp_path, *overrides, check=True):
    env = dict(os.environ, SWEEP_DIR=str(tmp_path / "sweep"), APP_LOG=str(tmp_path / "app.jsonl"),
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, str(APP), "-m", *overrides], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr[-3000:]
    return p


def app_log(tmp_path) -> list[dict]:
    f = tmp_path / "app.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def runs(tmp_path) -> list[tuple]:
    con = sqlite3.connect(tmp_path / "sweep" / "store.sqlite")
    try:
        return con.execute("SELECT run_id, status, charged, spec, error FROM runs ORDER BY idx").fetchall()
    finally:
        con.close()


def job_dirs(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())


def job_overrides(tmp_path, run_id: str) -> list[str]:
    """The task overrides Hydra recorded for one job (its folder's .hydra/overrides.yaml)."""
    from omegaconf import OmegaConf

    return list(OmegaConf.load(tmp_path / "sweep" / run_id / ".hydra" / "overrides.yaml"))


def test_basic_launcher_runs_the_study_and_recommends_the_best_job(tmp_path):
    sweep(tmp_path)
    jobs, stored = app_log(tmp_path), runs(tmp_path)
    assert len(jobs) == len(stored) == 3 and all(r[1] == "ok" for r in stored)
    assert sum(r[2] for r in stored) <= 3.0 + 1e-9
    for job, row in zip(jobs, stored):  # each job trained exactly what bomix asked
        spec = json.loads(row[3])
        assert [job["weights"][d] for d in ("code", "web", "books")] == pytest.approx(spec["mixture"], abs=1e-12)
        assert (job["size"], job["steps"]) == (spec["scale"], spec["steps"])
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    best = min(jobs, key=lambda j: j["val_loss"])
    assert summary["best_observed"]["value"] == pytest.approx(best["val_loss"])
    assert summary["recommendation"] == pytest.approx(best["weights"])  # random search: the best observed
    assert job_dirs(tmp_path) == [r[0] for r in stored] == ["r00000", "r00001", "r00002"]  # named by run id


def test_multi_fidelity_policy_sets_scale_and_steps_and_resumes_with_a_larger_budget(tmp_path):
    pol = ("hydra.sweeper.policy={name: mfbo, n_init: 3, search: {raw_samples: 32, starts: 2, iters: 5}, gp: {maxiter: 10}}")
    sweep(tmp_path, pol, "hydra.sweeper.budget=0.3")
    first = app_log(tmp_path)
    assert len({(j["size"], j["steps"]) for j in first}) >= 2  # cheap fidelities, not only the target
    assert sum(r[2] for r in runs(tmp_path)) <= 0.3 + 1e-9
    sweep(tmp_path, pol, "hydra.sweeper.budget=0.6")  # same study directory: continues, repeats nothing
    stored = runs(tmp_path)
    assert len(app_log(tmp_path)) == len(stored) > len(first)
    assert sum(r[2] for r in stored) <= 0.6 + 1e-9 and all(r[1] == "ok" for r in stored)
    assert job_dirs(tmp_path) == [r[0] for r in stored]  # one folder per run, none reused by the second sweep


@pytest.mark.parametrize("config, extra, prefix", [
    ("train_groups", [], "model="),  # the group is in the app's defaults list: choose its option
    ("train", ["hydra.sweeper.keys.scale=model"], "+model="),  # a group the defaults list lacks: append it
])
def test_a_key_naming_a_config_group_chooses_the_group_option(tmp_path, config, extra, prefix):
    sweep(tmp_path, "--config-name", config, *extra, "hydra.sweeper.budget=2")
    jobs, stored = app_log(tmp_path), runs(tmp_path)
    assert len(jobs) == len(stored) == 2 and all(r[1] == "ok" for r in stored)
    assert job_dirs(tmp_path) == [r[0] for r in stored]
    for job, row in zip(jobs, stored):
        spec = json.loads(row[3])
        assert job["size"] == spec["scale"] == "large"  # model/large.yaml was composed (the default is small)
        got = job_overrides(tmp_path, row[0])
        assert f"{prefix}large" in got and not any(o.startswith("++model") for o in got)
        assert "++trainer.max_steps=400" in got  # a plain key still gets ++key=value


@pytest.mark.parametrize("override, message", [
    ("+hydra.sweeper.ladder.huge=1e9", "['huge'] is not one of its options ['large', 'medium', 'small']"),
    ("model=small", "the config group model is chosen by the sweeper"),
])
def test_a_config_group_key_is_checked_before_anything_runs(tmp_path, override, message):
    p = sweep(tmp_path, "--config-name", "train_groups", override, check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and message in lines[0], p.stderr[-3000:]
    assert not (tmp_path / "sweep").exists() and not app_log(tmp_path)


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path):
    sweep(tmp_path, "fail_on=large", "hydra.sweeper.budget=2", "hydra.sweep.subdir=job${hydra.job.num}")
    stored = runs(tmp_path)
    assert [r[1] for r in stored] == ["failed", "failed"] and all("out of memory" in r[4] for r in stored)
    assert job_dirs(tmp_path) == ["job0", "job1"]  # the app's own hydra.sweep.subdir is kept


def test_sweep_overrides_are_refused(tmp_path):
    p = sweep(tmp_path, "model.size=small,large", check=False)
    assert p.returncode != 0 and "chooses the runs itself" in p.stderr


@pytest.mark.parametrize("override, message", [
    ("hydra.sweeper.budget=-1", "budget must be a finite number > 0"),
    ("hydra.sweeper.batch_size=0", "hydra.sweeper.batch_size must be >= 1"),
    ("hydra.sweeper.seed=-1", "hydra.sweeper.seed must be an integer >= 0"),
    ("model.size=small,large", "chooses the runs itself"),
])
def test_a_bomix_error_is_one_line_exit_2_and_makes_no_study(tmp_path, override, message):
    p = sweep(tmp_path, override, check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("bomix: error:"), p.stderr[-3000:]
    assert message in lines[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "sweep").exists() and not app_log(tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None,
                    reason="needs bomix[launchers]")
def test_joblib_launcher(tmp_path):
    sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.budget=2")
    stored = runs(tmp_path)
    assert len(stored) == len(app_log(tmp_path)) == 2 and all(r[1] == "ok" for r in stored)
