"""The `bomix` command end to end: bad inputs, sweeps, and resume after SIGKILL."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import ENV, ROOT, assert_run_refused, bomix

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store



def test_run_prints_summary_and_writes_directory(tmp_path):
    out = bomix("run", "policy=random", "budget=4", "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert len(out.stdout.strip().splitlines()) == 1  # one JSON line
    for key in ("policy", "backend", "seed", "n_runs", "budget_used", "recommendation", "true_value", "regret"):
        assert key in summary
    assert summary["n_runs"] == 4 and summary["regret"] >= 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "store.sqlite").exists()
    # the same summary for a person on stderr (issue 26): weights, regret beside uniform's, budget, stop reason
    from bomix.summary_text import format_summary

    assert out.stderr.rstrip().endswith(format_summary(summary))
    assert f"uniform weights have regret {summary['uniform_regret']:.2g}" in out.stderr
    assert "4 runs (all at 1B@20000)\nstopped: the budget is spent" in out.stderr


@pytest.mark.parametrize("policy", ["mfbo", "regmix"])
def test_readme_demo_experiment_runs_any_policy(tmp_path, policy):
    """`make demo` = `bomix run +experiment=demo` (RegMix simulator, mfbo); shortened here with max_runs."""
    out = bomix("run", "+experiment=demo", f"policy={policy}", "max_runs=8", "policy.n_runs=6" if policy == "regmix"
                else "policy.n_init=4", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["backend"] == "regmix-model" and summary["policy"] == policy
    assert 0 < summary["n_runs"] <= 8 and summary["regret"] >= 0
    assert set(summary["fidelities"]) <= {"1M@1000", "60M@1000", "1B@23842"}  # only logged fidelities


@pytest.mark.parametrize(
    "args, message",
    [
        (["budget=0"], "budget must be a finite number > 0, got 0"),
        (["budget=-3"], "budget must be a finite number > 0, got -3"),
        (["policy=fixed", "policy.mixture=[0.5,0.6,0,0,0]"], "sum to 1.1"),
        (["policy=fixed", "policy.mixture={d0:0.5,web:0.5}"], "unknown domain(s) ['web']"),
        (["policy=random", "problem.upper={nope:0.5}"], "unknown domain(s) ['nope']"),
        (["policy=random", "policy.steps=50000"], "outside the ladder"),
        (["policy=random", "policy.scale=7B"], "unknown scale '7B'"),
        (["policy=random", "policy.alpha=0"], "alpha must be > 0"),
        (["budget=abc"], "budget must be a finite number > 0, got 'abc'"),
        (["budget=nan"], "budget must be a finite number > 0, got nan"),
        (["budget=inf"], "budget must be a finite number > 0, got inf"),
        (["seed=1.5"], "seed must be an integer"),
        (["progress=maybe"], "progress must be true or false or null"),
        (["threads=0"], "threads must be an integer >= 1 or null, got 0"),
        (["policy=fixed", "policy.mixture=abc"], "could not convert string to float"),
        (["policy=random", "policy.steps=0"], "steps=0 outside the ladder"),
        (["policy=nope"], "unknown policy 'nope': choose one of ado,"),
        (["backend=nope"], "unknown backend 'nope': choose one of mfms, regmix, replay, synthetic, trainer"),
        (["policy=random", "policy.alhpa=2"], "unknown key 'alhpa' in policy random: valid keys are alpha, name, scale, steps"),
        (["budgt=3"], "unknown key 'budgt' in the top level: valid keys are backend, batch_size, budget,"),
        (["backend.k=abc"], "backend.k=abc: Value 'abc' of type 'str' could not be converted to Integer"),
        (["policy=random", "policy.alpha=[1"], "cannot parse override"),
    ],
)
def test_bad_input_one_line_no_traceback(tmp_path, args, message):
    assert_run_refused(tmp_path, args, message)


def test_missing_file_and_unknown_command(tmp_path):
    out = bomix("bench", str(tmp_path / "does-not-exist"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    out = bomix("frobnicate")
    assert out.returncode == 2 and "unknown command" in out.stderr


def test_refuses_directory_of_another_config_unless_forced(tmp_path):
    assert bomix("run", "policy=random", "budget=2", "progress=false", f"hydra.run.dir={tmp_path}").returncode == 0
    out = bomix("run", "policy=random", "budget=2", "seed=7", "policy.alpha=2", "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 2 and "different config" in out.stderr
    assert "policy.alpha: 1.0 -> 2.0, seed: 0 -> 7" in out.stderr  # the refusal names the keys, old -> new
    out = bomix("run", "policy=random", "budget=3", "seed=7", "force=true", "progress=false", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_runs"] == 3


def test_multirun_sweep_one_directory_each(tmp_path):
    out = bomix("run", "-m", "policy=random,uniform", "seed=0,1", "budget=2", "progress=false",
                f"hydra.sweep.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()  # `bomix run -m ... | jq`: stdout is JSON lines only
    assert len(lines) == 4 and all(isinstance(json.loads(line), dict) for line in lines)
    assert "Launching 4 jobs" in out.stderr
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
    args = ["run", "policy=random", "budget=24", "backend.delay=0.15", "progress=false", f"hydra.run.dir={tmp_path}"]
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


def test_typo_leaves_nothing_so_the_corrected_command_runs(tmp_path):
    """Validation happens before the store exists: a typo does not make the fix "a different config"."""
    camp = tmp_path / "c"
    out = bomix("run", "policy=fixed", "policy.mixture={d0: 0.5, d1: 0.6}", f"hydra.run.dir={camp}")
    assert out.returncode == 2 and "sum to 1.1" in out.stderr and not camp.exists()
    out = bomix("run", "policy=fixed", "policy.mixture={d0: 0.5, d1: 0.5}", f"hydra.run.dir={camp}")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_runs"] == 1


def test_run_dir_that_is_a_file(tmp_path):
    f = tmp_path / "notadir"
    f.write_text("keep me")
    out = bomix("run", "policy=random", "budget=1", f"hydra.run.dir={f}")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "is not a directory" in out.stderr and f.read_text() == "keep me"


def test_resume_operational_keys_and_budget_below_spent(tmp_path):
    base = ["run", "policy=random", f"hydra.run.dir={tmp_path}"]
    assert bomix(*base, "budget=3").returncode == 0
    before = Store(tmp_path).to_pandas()["runs"].shape[0]
    out = bomix(*base, "budget=2")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "budget=2 is below the 3 target-run equivalents already spent" in out.stderr
    assert Store(tmp_path).get_meta("budget") == 3.0 and Store(tmp_path).to_pandas()["runs"].shape[0] == before
    # keys that do not change results may differ on resume (bomix.config.OPERATIONAL_KEYS)
    out = bomix(*base, "budget=5", "log_level=INFO", "batch_size=2", "progress=false", "max_runs=10",
                "executor=process", "executor.workers=1")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_runs"] == 5


def test_sweep_directories_are_stable_and_leave_out_budget(tmp_path):
    args = ["run", "-m", "policy=random", "seed=0,1", "progress=false", f"hydra.sweep.dir={tmp_path}"]
    assert bomix(*args, "budget=1").returncode == 0
    dirs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert dirs == ["policy=random,seed=0", "policy=random,seed=1"]
    out = bomix(*args, "budget=2", "max_runs=5")  # raising the budget resumes the same directories
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == dirs
    assert [json.loads(line)["n_runs"] for line in out.stdout.strip().splitlines()] == [2, 2]
    assert "stderr" not in out.stdout and "HYDRA" not in out.stdout


def test_default_sweep_dir_has_no_timestamp():
    text = (ROOT / "conf" / "config.yaml").read_text()
    assert "dir: campaigns/sweep\n" in text and "${now:" not in text


def test_version_and_help():
    import bomix as pkg

    out = bomix("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"bomix {pkg.__version__}"
    out = bomix("run", "--help")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for group in ("problem=", "backend=", "policy=", "executor=", "+experiment="):
        assert group in text
    assert "* mfbo" in text and "* random" not in text  # the real default policy
    assert "  * synthetic" in text and "* inline" in text
    for option in ("budget", "seed", "batch_size", "max_runs", "stop_regret", "max_wall_time", "force", "progress",
                   "log_level", "threads"):
        assert f"\n  {option} " in text, option
    assert "target-run equivalents" in text and "--cfg job" in text and "--multirun" in text


def test_simulator_build_help_documents_every_option():
    out = bomix("simulator", "build", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for opt in ("--out", "--mode", "--target-scale", "--target-step", "--objective", "--name", "--metrics",
                "--holdout", "--seed", "--max-train"):
        # argparse prints "OPT METAVAR  help"; an undocumented option is followed directly by the next one
        i = text.index(opt, text.index("options:"))
        after = text[i:].split(" --")[0]
        assert len(after.split()) > 2, f"{opt} has no help text"


def test_progress_off_when_not_a_terminal_and_info_logs(tmp_path):
    out = bomix("run", "policy=random", "budget=3", "log_level=INFO", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr and "%|" not in out.stderr  # no bar frames in a log file
    finished = [line for line in out.stderr.splitlines() if "finished r0000" in line]
    assert len(finished) == 3 and "loss:target=" in finished[0] and "cost 1" in finished[0]
    assert "new recommendation after 1 runs" in out.stderr


def test_progress_bar_has_eta_and_no_stray_comma(tmp_path):
    out = bomix("run", "policy=random", "budget=2", "progress=true", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    last = [ln for ln in out.stderr.replace("\r", "\n").strip().splitlines() if "%|" in ln][-1]  # the bar's last frame
    assert "<" in last and "runs=2" in last and "] ," not in last and " , " not in last, last
