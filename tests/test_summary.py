"""summary.json says more than the latest recommendation: best so far, predicted +- sd, policy facts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store


class PredictingRandom(RandomPolicy):
    """Random search with a stand-in model: predicts the mean observed target value, sd 0.1."""

    name = "random"

    def predict(self, history, mixture):
        obs = history.at_fidelity(self.space.target)
        return (float(np.mean(obs.y)), 0.1) if len(obs) else None

    def diagnostics(self):
        return {"fallbacks": 0, "decisions": 3}


def test_campaign_summary_has_best_so_far_prediction_and_policy_info(tmp_path):
    s = run_campaign(SyntheticBackend(k=3, noise=0.02, seed=1), PredictingRandom(), budget=4, seed=0,
                     directory=tmp_path / "c")
    on_disk = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert on_disk["best_observed"] == s["best_observed"]
    with Store(tmp_path / "c") as store:
        recs = store.to_pandas()["recommendations"]
    best = s["best_recommendation"]
    assert best["true_value"] == pytest.approx(recs["true_value"].min())  # the best recommendation so far
    assert best["regret"] <= s["regret"] + 1e-12
    obs = s["best_observed"]
    assert obs["fidelity"] == s["target"] and obs["run_id"].startswith("r")
    assert s["predicted"]["sd"] == 0.1 and np.isfinite(s["predicted"]["mean"])
    assert s["policy_info"] == {"fallbacks": 0, "decisions": 3}
    # every recommendation is stored with its prediction; the latest one's is the summary's
    assert recs["pred_sd"].tolist() == [0.1] * len(recs) and recs["pred_mean"].notna().all()
    assert recs["pred_mean"].iloc[-1] == pytest.approx(s["predicted"]["mean"])
    assert recs["fallback"].tolist() == [0] * len(recs) and s["n_fallback_recommendations"] == 0
    assert s["fallback"] is False


def test_policies_without_a_model_predict_nothing(tmp_path):
    backend = SyntheticBackend(k=3, noise=0.0)
    s = run_campaign(backend, RandomPolicy(), budget=3, directory=tmp_path / "c")
    assert s["predicted"] is None and s["policy_info"] == {}
    with Store(tmp_path / "c") as store:
        results, _, _ = store.load(store.get_meta("domains"))
    finals = {r.spec.run_id: float(backend.default_objective.on_curve(r.curve)[-1]) for r in results}
    assert len(finals) == 3
    assert s["best_observed"]["run_id"] == min(finals, key=finals.get)
    assert s["best_observed"]["value"] == pytest.approx(min(finals.values()))


def test_export_then_simulator_build_keeps_the_campaign_objective(tmp_path):
    """A campaign minimising a metric other than the table's first keeps it through export -> build."""
    from bomix.backends.replay.build import build
    from bomix.campaign import ProblemConfig
    from bomix.export import export_campaign

    backend = SyntheticBackend(k=3, noise=0.0)
    metric = backend.metrics[-1]
    assert metric != backend.metrics[0]
    run_campaign(backend, RandomPolicy(steps=backend.space.step_grid[0]), budget=0.05, directory=tmp_path / "c",
                 problem=ProblemConfig(objective={"maximize": metric}))
    export_campaign(tmp_path / "c", tmp_path / "runs.csv")
    out = build(tmp_path / "runs.csv", tmp_path / "sim", mode="pool", report=False)
    meta = json.loads((out / "simulator.json").read_text())
    assert meta["objective"] == {"maximize": metric}


# ----- uniform weights' regret, and the summary a person reads (issue 26) ------------------------------
def test_summary_puts_uniform_weights_regret_beside_the_recommendations(tmp_path):
    """summary.json's ``uniform_regret``: the backend's true value of uniform weights minus the optimum's,
    measured as a recommendation's regret is (policy=uniform's own regret is the same number)."""
    from bomix.policies.heuristics import UniformPolicy

    backend = SyntheticBackend(k=4, noise=0.0, seed=2)
    s = run_campaign(backend, RandomPolicy(), budget=2, directory=tmp_path / "r")
    u = run_campaign(backend, UniformPolicy(), budget=2, directory=tmp_path / "u")
    assert s["uniform_regret"] == pytest.approx(u["regret"]) and u["uniform_regret"] == pytest.approx(u["regret"])
    centre = backend.space.center()
    tv = backend.true_value(centre, backend.space.target, backend.default_objective)
    assert s["uniform_regret"] == pytest.approx(tv - s["optimum_value"]) and s["uniform_regret"] > 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["uniform_regret"] == s["uniform_regret"]


def test_uniform_regret_needs_truth():
    from types import SimpleNamespace

    from bomix.summary import uniform_regret

    assert uniform_regret(SimpleNamespace(has_truth=False), None, None) is None
    assert uniform_regret(SimpleNamespace(has_truth=True), None, None) is None  # no optimum: no regret


SIM = {  # a summary.json of a finished simulator campaign (keys as CampaignReport.summary writes them)
    "policy": "mfbo", "backend": "regmix-model", "objective": "pile_cc", "budget": 2.0, "budget_used": 1.0512,
    "n_runs": 160, "n_ok": 160, "n_failed": 0,
    "recommendation": {"pile_cc": 0.29, "pubmed_central": 0.33, "gutenberg": 0.15, "wikipedia": 0.13, "arxiv": 0.1,
                       **{f"zero{i}": 0.0 for i in range(12)}},
    "true_value": 2.898, "regret": 0.096, "optimum_value": 2.802, "uniform_regret": 0.27, "extrapolated": False,
    "target": {"scale": "1B", "steps": 23842}, "fidelities": {"1M@1000": 140, "60M@1000": 19, "1B@23842": 1},
    "reached_target": True, "stop_reason": "max_runs", "predicted": {"mean": 2.91, "sd": 0.02},
    "best_recommendation": {"n_finished": 96, "regret": 0.074}, "directory": "campaigns/demo",
}


def test_human_summary_of_a_simulator_campaign():
    from bomix.summary_text import format_summary

    text = format_summary(SIM)
    lines = text.splitlines()
    assert lines[0] == "campaign campaigns/demo: done (policy mfbo, backend regmix-model)"
    weights = [ln.split()[0] for ln in lines[2:7]]
    assert weights == ["pubmed_central", "pile_cc", "gutenberg", "wikipedia", "arxiv"]  # largest first
    assert "  + 12 domains at 0" in lines and "zero0" not in text  # zeros folded into one line
    assert "regret 0.096 (true pile_cc 2.898 against the simulator's optimum 2.802); uniform weights have regret 0.27" \
        in text
    assert "an earlier recommendation, after 96 runs, had regret 0.074" in text
    assert "predicted pile_cc at 1B@23842: 2.91 +- 0.02" in text
    assert ("budget: 1.05 of 2 target-run equivalents used; 160 runs (140 at 1M@1000, 19 at 60M@1000, 1 at 1B@23842)"
            "\nstopped: max_runs reached with 0.95 of the budget of 2 unspent (raise max_runs to spend more of it)") in text
    assert "note:" not in text  # inside the trust region, target reached: nothing is extrapolated
    spent = format_summary({**SIM, "budget_used": 1.995})
    assert "stopped: max_runs reached\n" in spent + "\n"  # a cap that left nothing worth naming: the reason alone
    assert "stopped: the budget is spent" in format_summary({**SIM, "stop_reason": "budget"})


def test_human_summary_says_which_thing_is_extrapolated():
    """Two meanings, two notes: the simulator's truth outside its trust region, the choice from smaller runs."""
    from bomix.summary_text import format_summary

    sim = format_summary({**SIM, "extrapolated": True})
    assert "outside the simulator's trust region" in sim and "its true value (so the regret) is extrapolated" in sim
    assert "target fidelity" not in sim
    small = format_summary({**SIM, "reached_target": False})
    assert "no run reached the target fidelity 1B@23842: the choice and its prediction are extrapolated from smaller " \
           "runs" in small and "trust region" not in small
    assert "the choice is extrapolated" in format_summary({**SIM, "reached_target": False, "predicted": None})


def test_human_summary_says_when_the_recommendation_is_a_fallback():
    from bomix.summary_text import format_summary

    assert "numerical fallback" not in format_summary({**SIM, "fallback": False, "n_fallback_recommendations": 2})
    text = format_summary({**SIM, "fallback": True})
    assert "note: the recommendation is a numerical fallback, not the policy's model's answer: re-running the " \
           "campaign recomputes it" in text


def test_human_summary_of_real_runs_shows_the_prediction_not_a_regret():
    from bomix.summary_text import format_summary

    real = {**SIM, "backend": "trainer", "true_value": None, "regret": None, "optimum_value": None,
            "uniform_regret": None, "best_recommendation": None, "stop_reason": "budget",
            "best_observed": {"run_id": "r00042", "value": 3.1234567}}
    text = format_summary(real)
    assert "regret" not in text and "optimum" not in text
    assert "predicted pile_cc at 1B@23842: 2.91 +- 0.02 (the policy's model)" in text
    assert "best run at the target fidelity: pile_cc 3.1235 (r00042)" in text
    assert "stopped: the budget is spent" in text


def test_human_summary_tolerates_odd_and_missing_values():
    """bomix show reads summary files it did not write: any key may be missing or of another type."""
    from bomix.summary_text import format_summary

    assert "no recommendation yet" in format_summary({})
    odd = {"recommendation": {"a": "x", "b": 0.5, "c": 0.5}, "regret": "bad", "true_value": float("nan"),
           "predicted": {"mean": None}, "fidelities": [1], "n_runs": "3", "budget": None, "stop_reason": 7,
           "best_recommendation": "no", "target": "1B"}
    text = format_summary(odd)
    assert "a " not in text and "b  0.500" in text and "budget: ? of ? target-run" in text


def test_human_summary_lists_at_most_eight_weights():
    from bomix.summary_text import weight_lines

    nine = {f"d{i}": w for i, w in enumerate([0.3, 0.2, 0.1, 0.1, 0.1, 0.08, 0.06, 0.05, 0.01])}
    assert weight_lines(nine)[-1] == "  + 1 more domain at 0.010" and len(weight_lines(nine)) == 9
    ten = {**nine, "d9": 0.0004, "d10": 0.0003}
    assert weight_lines(ten)[-1] == "  + 2 domains at ~0 (< 0.001 each)"


def test_human_summary_says_how_far_the_recommendation_was_hedged():
    from bomix.summary_text import format_summary

    shrunk = {"z": 1.0, "lambda": 0.625, "advantage": 0.105, "advantage_sd": 0.106}
    text = format_summary({**SIM, "policy_info": {"shrink": shrunk}})
    assert ("hedge: 0.62 of the way from the prior mixture to the model's best, the nearest point to the prior the "
            "evidence does not put more than 1 sd behind it; the model's best is predicted 0.1 +- 0.11 better") in text
    kept = format_summary({**SIM, "policy_info": {"shrink": {**shrunk, "lambda": 1.0}}})
    assert "hedge: none, the model's best mixture (the evidence puts it more than 1 sd ahead" in kept
    pbest = format_summary({**SIM, "policy_info": {"shrink": {**shrunk, "z": "pbest", "lambda": 0.86}}})
    assert "hedge: 0.86 of the way from the prior mixture to the model's best, the expected position of the best" in pbest
    assert "hedge" not in format_summary(SIM) and "hedge" not in format_summary({**SIM, "policy_info": {"shrink": 3}})
