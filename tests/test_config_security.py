"""A config builds only registered components from plain values: no ``_target_`` from a store or an option.

Each attack names a file that a successful attack would create or empty; the test asserts it is untouched.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bomix.config import check_data, instantiate, registered
from bomix.errors import BomixError
from bomix.study import Study

BOMIX = [sys.executable, "-m", "bomix.cli"]


def _bomix(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*BOMIX, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _one_line_refusal(proc: subprocess.CompletedProcess, match: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("overrides, match", [
    (["policy._target_=bomix.layout.write_text_atomic", "+policy.path=PWNED", "+policy.text=hi"],
     "is not allowed"),
    (["++policy.alpha={_target_: bomix.layout.write_text_atomic, path: PWNED, text: hi}"],
     "policy.alpha._target_ is refused"),
    (["++policy.alpha={_target_: builtins.open, file: PWNED, mode: w}"], "policy.alpha._target_ is refused"),
    (["backend._target_=bomix.layout.write_text_atomic", "+backend.path=PWNED", "+backend.text=hi"],
     "is not allowed"),
    (["executor._target_=bomix.layout.write_text_atomic", "+executor.path=PWNED", "+executor.text=hi"],
     "is not allowed"),
    # refused by the type check (k is an int) before the reserved-key check
    (["++backend.k={_partial_: true, _target_: builtins.open, file: PWNED, mode: w}"], "backend.k"),
])
def test_overrides_cannot_build_an_unregistered_target(tmp_path, overrides, match):
    proc = _bomix("run", "backend=synthetic", "policy=uniform", "budget=1", f"hydra.run.dir={tmp_path / 'c'}",
                  *overrides, cwd=tmp_path)
    _one_line_refusal(proc, match)
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "c").exists()


def test_a_registered_target_elsewhere_is_refused_before_anything_is_imported(tmp_path):
    """A backend's defaults are read through the problem resolver: an unregistered target is never imported."""
    mod = tmp_path / "evil_mod.py"
    mod.write_text(f"open({str(tmp_path / 'PWNED')!r}, 'w').close()\nclass X:\n    pass\n")
    proc = subprocess.run([*BOMIX, "run", "backend=trainer", "backend._target_=evil_mod.X", "--cfg", "job"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert not (tmp_path / "PWNED").exists(), proc.stdout + proc.stderr


def test_instantiate_refuses_nested_targets_and_non_plain_options():
    with pytest.raises(BomixError, match=r"policy.alpha._target_ is refused"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy",
                     "alpha": {"_target_": "builtins.open", "file": "x", "mode": "w"}}, "policy")
    with pytest.raises(BomixError, match=r"policy._args_ is refused"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy", "_args_": ["x"]}, "policy")
    with pytest.raises(BomixError, match="not allowed"):  # a bomix callable that is not a component
        instantiate({"_target_": "bomix.layout.write_text_atomic", "path": "x", "text": "y"}, "policy")
    with pytest.raises(BomixError, match="not allowed"):  # a backend class is not a policy
        instantiate({"_target_": "bomix.backends.synthetic.SyntheticBackend"}, "policy")
    with pytest.raises(BomixError, match="holds a object"):
        check_data({"a": [1, {"b": object()}]}, "policy")


def test_registered_lists_each_groups_yaml_targets():
    pol = registered("policy")
    assert pol["random"] == "bomix.policies.heuristics.RandomPolicy" and "mfbo" in pol
    assert registered("backend")["synthetic"] == "bomix.backends.synthetic.SyntheticBackend"
    assert "bomix.layout.write_text_atomic" not in pol.values()


# ----- a study's store is data --------------------------------------------------------------------
DOMAINS = ["a", "b", "c"]


def _study(d: Path) -> None:
    Study.create(d, domains=DOMAINS, ladder={"s": 1e6, "l": 1e7}, steps=[100], objective="loss",
                 policy="random", budget=2.0).close()


def _set_study_policy(d: Path, policy) -> None:
    con = sqlite3.connect(d / "store.sqlite", isolation_level=None)
    raw = json.loads(con.execute("SELECT value FROM meta WHERE key = 'study'").fetchone()[0])
    raw["policy"] = policy
    con.execute("UPDATE meta SET value = ? WHERE key = 'study'", (json.dumps(raw),))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the edit is in the main file before bomix opens it
    con.close()


@pytest.mark.parametrize("policy_of", [
    lambda p: {"name": "random", "_target_": "bomix.layout.write_text_atomic", "path": str(p), "text": "x"},
    lambda p: {"name": "random", "alpha": {"_target_": "builtins.open", "file": str(p), "mode": "w"}},
    lambda p: {"name": "random", "alpha": [{"_target_": "builtins.open", "file": str(p), "mode": "w"}]},
    lambda p: {"name": "../backend/synthetic"},
    lambda p: {"name": "os.system"},
    lambda p: {"alpha": 1.0},
    lambda p: "random",
])
@pytest.mark.parametrize("command", ["show", "ask"])
def test_a_study_store_cannot_run_code(tmp_path, policy_of, command):
    d, victim = tmp_path / "study", tmp_path / "victim.txt"
    _study(d)
    victim_content = "keep me"
    victim.write_text(victim_content)
    planted = tmp_path / "planted.pth"
    policy = policy_of(planted)
    if isinstance(policy, dict) and "alpha" in policy and isinstance(policy["alpha"], dict):
        policy["alpha"]["file"] = str(victim)  # the truncation attack aims at an existing file
    _set_study_policy(d, policy)
    before = (d / "store.sqlite").read_bytes()
    proc = _bomix(command, str(d), cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not planted.exists() and victim.read_text() == victim_content
    assert (d / "store.sqlite").read_bytes() == before


@pytest.mark.parametrize("policy, match", [
    ({"name": "random", "_target_": "bomix.layout.write_text_atomic"}, "policy._target_ is refused"),
    ({"name": "random", "alpha": {"_target_": "builtins.open"}}, "policy.alpha._target_ is refused"),
    ("../backend/synthetic", "unknown policy"),
    ({"name": 3}, "unknown policy"),
])
def test_study_create_refuses_targets_and_unknown_names_before_writing(tmp_path, policy, match):
    with pytest.raises(BomixError, match=match):
        Study.create(tmp_path / "s", domains=DOMAINS, ladder={"s": 1e6}, steps=[100], objective="loss",
                     policy=policy, budget=1.0)
    assert not (tmp_path / "s").exists()


def test_sweeper_policy_with_a_target_is_refused(tmp_path, capsys):
    from hydra_plugins.bomix_sweeper.bomix_sweeper import BomixSweeper

    sweeper = BomixSweeper(study_dir=str(tmp_path / "s"), domains=DOMAINS, ladder={"s": 1e6}, steps=[100],
                           objective="loss", keys={"mixture": "w.{domain}"},
                           policy={"name": "random", "_target_": "bomix.layout.write_text_atomic",
                                   "path": str(tmp_path / "PWNED"), "text": "x"})
    with pytest.raises(SystemExit) as exit_info:  # the sweeper's one line and exit code 2
        sweeper.sweep([])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "policy._target_ is refused" in err[0]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_study_seed_must_be_a_non_negative_integer(tmp_path, seed):
    with pytest.raises(BomixError, match="seed must be an integer >= 0"):
        Study.create(tmp_path / "s", domains=DOMAINS, ladder={"s": 1e6}, steps=[100], objective="loss",
                     policy="random", budget=1.0, seed=seed)
    assert not (tmp_path / "s").exists()
