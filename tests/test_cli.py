"""The `bomix` command end to end: bad inputs, sweeps, and resume after SIGKILL."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def bomix(*args, cwd=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bomix.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=ENV, timeout=300, **kw)


def test_run_prints_summary_and_writes_directory(tmp_path):
    out = bomix("run", "budget=4", "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    for key in ("policy", "backend", "seed", "n_runs", "budget_used", "recommendation", "true_value", "regret"):
        assert key in summary
    assert summary["n_runs"] == 4 and summary["regret"] >= 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "store.sqlite").exists()


@pytest.mark.parametrize("policy", ["mfbo", "regmix"])
def test_readme_demo_experiment_runs_any_policy(tmp_path, policy):
    """`make demo` = `bomix run +experiment=demo` (RegMix simulator, mfbo); shortened here with max_runs."""
    out = bomix("run", "+experiment=demo", f"policy={policy}", "max_runs=8", "policy.n_runs=6" if policy == "regmix"
                else "policy.n_init=4", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["backend"] == "regmix" and summary["policy"] == policy
    assert 0 < summary["n_runs"] <= 8 and summary["regret"] >= 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["budget=0"], "budget must be > 0"),
        (["budget=-3"], "budget must be > 0"),
        (["policy=fixed", "policy.mixture=[0.5,0.6,0,0,0]"], "sum to 1.1"),
        (["policy=fixed", "policy.mixture={d0:0.5,web:0.5}"], "unknown domain(s) ['web']"),
        (["problem.upper={nope:0.5}"], "unknown domain(s) ['nope']"),
        (["policy.steps=50000"], "outside the ladder"),
        (["policy.scale=7B"], "unknown scale '7B'"),
        (["policy.alpha=0"], "alpha must be > 0"),
    ],
)
def test_bad_input_one_line_no_traceback(tmp_path, args, message):
    out = bomix("run", *args, "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bomix: error:"), out.stderr
    assert message in lines[0]
    assert "Traceback" not in out.stderr


def test_missing_file_and_unknown_command(tmp_path):
    out = bomix("bench", str(tmp_path / "does-not-exist"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    out = bomix("frobnicate")
    assert out.returncode == 2 and "unknown command" in out.stderr


def test_refuses_directory_of_another_config_unless_forced(tmp_path):
    assert bomix("run", "budget=2", "progress=false", f"hydra.run.dir={tmp_path}").returncode == 0
    out = bomix("run", "budget=2", "seed=7", "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2 and "different config" in out.stderr
    out = bomix("run", "budget=3", "seed=7", "force=true", "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_runs"] == 3


def test_multirun_sweep_one_directory_each(tmp_path):
    out = bomix("run", "-m", "policy=random,uniform", "seed=0,1", "budget=2", "progress=false",
                f"hydra.sweep.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    summaries = [json.loads(p.read_text()) for p in tmp_path.rglob("summary.json")]
    assert len(summaries) == 4
    assert sorted((s["policy"], s["seed"]) for s in summaries) == [
        ("random", 0), ("random", 1), ("uniform", 0), ("uniform", 1)]
    assert all(s["n_runs"] == (2 if s["policy"] == "random" else 0) for s in summaries)


def _finished(db: Path) -> int:
    try:
        if not db.exists():
            return 0
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5) as c:  # never creates the file
            return c.execute("SELECT COUNT(*) FROM runs WHERE status != 'pending'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_sigkill_mid_campaign_then_resume_loses_and_repeats_nothing(tmp_path):
    args = ["run", "budget=24", "backend.delay=0.15", "progress=false", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen([sys.executable, "-m", "bomix.cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "store.sqlite"
    deadline = time.time() + 120
    while _finished(db) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "campaign finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _finished(db)
    assert 6 <= killed_at < 24
    out = bomix(*args)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["n_runs"] == 24 and summary["budget_used"] == pytest.approx(24.0)
    runs = Store(tmp_path).to_pandas()["runs"]
    assert runs["run_id"].tolist() == [f"r{i:05d}" for i in range(24)]
    assert (runs["status"] == "ok").all()
    # exactly the runs an uninterrupted campaign makes
    ref = tmp_path.parent / (tmp_path.name + "-ref")
    run_campaign(SyntheticBackend(k=5, noise=0.01, hetero=1.0), RandomPolicy(), budget=24, seed=0, directory=ref)
    ref_runs = Store(ref).to_pandas()["runs"]
    for d in ("d0", "d1", "d2", "d3", "d4"):
        assert runs[f"w:{d}"].tolist() == pytest.approx(ref_runs[f"w:{d}"].tolist(), abs=1e-12)
