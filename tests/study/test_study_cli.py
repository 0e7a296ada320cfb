"""``bomix ask`` / ``tell`` / ``show`` from a shell, as a worker script would call them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bomix.cli import main

CREATE = ["--domains", "a,b,c", "--ladder", "s=1e6,l=1e7", "--steps", "100,400", "--objective", "loss",
          "--budget", "2", "--policy", "random"]


def test_ask_tell_show_round_trip(tmp_path, capsys):
    d = str(tmp_path / "s")
    assert main(["ask", d, *CREATE]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["run_id"] == "r00000" and first["scale"] == "l" and first["cost"] == pytest.approx(1.0)
    assert main(["ask", d]) == 0
    second = json.loads(capsys.readouterr().out)
    assert main(["ask", d, "--no-wait"]) == 0
    assert json.loads(capsys.readouterr().out) == {"run_id": None, "status": "done", "pending": 2}
    assert main(["tell", d, first["run_id"], "--value", "2.5"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["mixture"] == pytest.approx(first["mixture"])
    curve = tmp_path / "c.csv"
    curve.write_text("step,loss\n100,3.0\n400,2.0\n")
    assert main(["tell", d, second["run_id"], "--curve", str(curve)]) == 0
    assert json.loads(capsys.readouterr().out)["mixture"] == pytest.approx(second["mixture"])
    assert main(["show", d]) == 0
    text = capsys.readouterr().out
    assert "budget spent" in text and "2 of 2 target-run equivalents" in text
    assert "r00001   ok" in text and "2.0000" in text
    assert main(["show", d, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["kind"] == "study" and [r["objective"] for r in rep["runs"]] == [2.5, 2.0]


@pytest.mark.parametrize("args, message", [
    (["tell", "{d}", "r00007", "--value", "1"], "unknown run id 'r00007'"),
    (["ask", "{d}", "--domains", "a,b"], "give all of --domains"),
    (["ask", "{d}", *CREATE[:3], "s=x", *CREATE[4:]], "NAME=PARAMS"),
    (["tell", "{d}", "r00000", "--curve", "{d}/missing.csv"], "not found"),
    (["show", "{d}/nothing"], "has no store.sqlite"),
    (["ask", "{d}", "--policy", "mfbo"], "uses policy random, not mfbo: a study keeps the policy"),
    (["ask", "{d}", "--seed", "3", "--budget", "5"], "uses seed 0, not 3"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    d = str(tmp_path / "s")
    assert main(["ask", d, *CREATE]) == 0
    argv = [a.replace("{d}", d) for a in args]
    p = subprocess.run([sys.executable, "-m", "bomix.cli", *argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_show_a_bomix_run_campaign(tmp_path, capsys):
    from bomix.backends.synthetic import SyntheticBackend
    from bomix.campaign import run_campaign
    from bomix.policies.heuristics import RandomPolicy

    summary = run_campaign(SyntheticBackend(k=3, noise=0.0), RandomPolicy(), budget=2, directory=tmp_path / "c")
    assert main(["show", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("campaign ") and "true " in text and "r00001" in text
    # the summary `bomix run` ends with (issue 26), from the store and summary.json
    from bomix.summary_text import format_summary

    assert format_summary(summary, header=False) in text
    assert f"uniform weights have regret {summary['uniform_regret']:.2g}" in text
    assert "stopped: the budget is spent" in text
    assert main(["show", str(tmp_path / "c"), "--json"]) == 0
    view = json.loads(capsys.readouterr().out)["summary"]
    assert view["regret"] == pytest.approx(summary["regret"]) and view["uniform_regret"] == summary["uniform_regret"]


def test_show_does_not_repeat_a_stale_summary(tmp_path, capsys):
    """A campaign extended after its summary.json was written: show reads the store (runs, budget,
    recommendation) and leaves out what only the old summary knew about its end (stop reason, prediction)."""
    from bomix.backends.synthetic import SyntheticBackend
    from bomix.campaign import run_campaign
    from bomix.policies.heuristics import RandomPolicy

    d = tmp_path / "c"
    run_campaign(SyntheticBackend(k=3, noise=0.0), RandomPolicy(), budget=2, directory=d)
    old = json.loads((d / "summary.json").read_text())
    run_campaign(SyntheticBackend(k=3, noise=0.0), RandomPolicy(), budget=3, directory=d)
    # as if the second run was killed before it wrote its summary
    (d / "summary.json").write_text(json.dumps({**old, "predicted": {"mean": 9.0, "sd": 1.0}}))
    assert main(["show", str(d)]) == 0
    text = capsys.readouterr().out
    assert "3 of 3 target-run equivalents used; 3 runs" in text
    assert "stopped:" not in text and "predicted" not in text
    assert f"uniform weights have regret {old['uniform_regret']:.2g}" in text  # the same for the whole campaign


def test_ask_refuses_options_an_existing_study_would_drop(tmp_path, capsys):
    """Issue 26: `bomix ask DIR --policy random` on an mfbo study used to drop the option without a word.
    A different --policy or --seed is refused (exit 2, nothing written, how to start a new study said);
    the study's own ones are fine."""
    from bomix.study import Study

    d = str(tmp_path / "s")
    assert main(["ask", d, *CREATE]) == 0
    capsys.readouterr()
    for argv in (["--policy", "uniform", "--budget", "5"], ["--seed", "1", "--budget", "5"]):
        assert main(["ask", d, *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "start a new study in another directory" in err, err
    with Study.load(d, read_only=True) as study:
        assert study.budget == 2 and len(study.history().all_specs()) == 1  # nothing written
    assert main(["ask", d, "--policy", "random", "--seed", "0", "--budget", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "r00001"
    # creation options naming another policy were refused before too (the whole config is compared)
    assert main(["ask", d, *CREATE[:-1], "uniform"]) == 2
    assert "different policy" in capsys.readouterr().err
