"""`bomix suggest`'s answer: the text for a person (mixture, prediction +- sd, trust region, next runs, notes) and
the one JSON object for scripts."""

from __future__ import annotations

import json

import pytest

from swarm_files import N_RUNS, write_long
from bomix.cli import main

#: mfbo at smoke-test sizes (the method is the same; its searches are shorter)
SMALL_MFBO = ["--option", "gp.maxiter=5", "--option", "search={raw_samples: 32, starts: 1, iters: 3}"]


@pytest.fixture
def runs(tmp_path):
    return str(write_long(tmp_path))


def run(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(["suggest", *argv]) == 0
    return capsys.readouterr().out


def test_mfbo_text(runs, capsys):
    out = run(capsys, runs, "--objective", "loss", *SMALL_MFBO, "--next", "2", "--budget", "2")
    lines = out.splitlines()
    assert lines[0] == (f"bomix suggest: {N_RUNS} runs of {runs} (long format; {N_RUNS} at 20M@1000), method mfbo, "
                        "seed 0")
    assert lines[1] == "recommended mixture (objective loss at 20M@1000):"
    assert [ln.split()[0] for ln in lines[2:5]] == ["web", "code", "books"]  # largest weight first (optimum .5 .3 .2)
    assert lines[5].startswith("predicted loss at 20M@1000: ") and " +- " in lines[5]
    assert lines[6].startswith("trust region at 20M@1000: inside (total-variation distance ")
    assert lines[7] == "next 2 runs worth buying (cost 2 of 2 target-run equivalents left):"
    assert lines[8].startswith("  1. 20M@1000  cost 1  ") and lines[9].startswith("  2. 20M@1000  cost 1  ")


def test_json_is_one_object(runs, capsys):
    out = run(capsys, runs, "--objective", "loss", "--method", "regmix_linear", "--option", f"n_runs={N_RUNS}",
              "--target", "1B@1000", "--target-params", "1e9", "--next", "1", "--json")
    assert out.count("\n") == 1
    d = json.loads(out)
    assert d["method"] == "regmix_linear" and d["target"] == {"scale": "1B", "steps": 1000}
    assert d["predicted"] is None and d["fallback"] is False and d["notes"] == []
    assert d["trust"]["at_target"] is False and d["trust"]["fidelity"] == "20M@1000"
    assert d["next_runs"] == [] and d["asked"] == 1  # a law whose design is done buys nothing more
    assert abs(sum(d["recommendation"].values()) - 1) < 1e-9


def test_a_law_short_of_its_design_says_so(runs, capsys):
    out = run(capsys, runs, "--objective", "loss", "--method", "regmix_linear")
    assert "predicted loss: none (regmix_linear has no model of the objective's uncertainty)" in out
    assert (f"note: regmix_linear has not finished its design (13 runs within the budget, {N_RUNS} in the table): "
            "like a campaign in the middle of its design it fits its law on the first 8 runs") in out


def test_help(capsys):
    assert main(["suggest", "--help"]) == 0
    assert "--target-params" in capsys.readouterr().out
