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
