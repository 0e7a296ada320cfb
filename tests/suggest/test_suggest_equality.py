"""On the same data, the same method gives the same mixture: a campaign's runs, exported to the long format and fed
to `bomix suggest` with the campaign's method, options and seed, give the campaign's final recommendation."""

from __future__ import annotations

import json

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.cli import main
from bomix.export import export_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.policies.laws import RegMixPolicy

pytest.importorskip("lightgbm")

SEED = 3


def suggest_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(["suggest", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_regmix_campaign_and_suggest_agree(tmp_path, capsys):
    """RegMix's design at 20M, target 1B (never run): suggest needs the target's parameter count."""
    options = {"n_runs": 8, "n_samples": 2000, "top_k": 16}
    summary = run_campaign(SyntheticBackend(k=3, seed=0), RegMixPolicy(**options), budget=1, seed=SEED,
                           directory=tmp_path / "campaign")
    assert summary["n_runs"] == 8 and summary["stop_reason"] == "policy"
    export_campaign(tmp_path / "campaign", tmp_path / "runs.csv")
    out = suggest_json(capsys, str(tmp_path / "runs.csv"), "--method", "regmix", "--seed", str(SEED),
                       *(a for k, v in options.items() for a in ("--option", f"{k}={v}")),
                       "--target", "1B@20000", "--target-params", "1e9")
    assert out["recommendation"] == summary["recommendation"]  # exactly
    assert out["objective"] == "loss:target"  # the export's sidecar keeps the campaign's objective
    assert out["n_runs"] == 8 and out["fidelities"] == {"20M@20000": 8} and out["next_runs"] == []
    assert out["trust"]["at_target"] is False and out["trust"]["fidelity"] == "20M@20000"


def test_random_campaign_and_suggest_agree(tmp_path, capsys):
    """Random search at the target: the best run observed there, whichever tool is asked."""
    summary = run_campaign(SyntheticBackend(k=4, seed=1, noise=0.01), RandomPolicy(), budget=3, seed=SEED,
                           directory=tmp_path / "campaign")
    export_campaign(tmp_path / "campaign", tmp_path / "runs.csv")
    out = suggest_json(capsys, str(tmp_path / "runs.csv"), "--method", "random", "--seed", str(SEED))
    assert out["target"] == {"scale": "1B", "steps": 20000}  # the largest logged scale at its last step
    assert out["recommendation"] == summary["recommendation"]
    assert out["trust"]["at_target"] is True and out["trust"]["inside"] is True  # a logged mixture: distance 0
