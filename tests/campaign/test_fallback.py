"""Every recommendation is stored with the policy's prediction and whether it was a numerical fallback; a resumed
campaign never keeps a fallback as its answer."""

import json

import pytest
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.store import StoreReader


class FlakyModel(RandomPolicy):
    """Random search with a "model": predicts 3.0 +- 0.1 (3.5 +- 0.2 for a fallback) and falls back (the centre)
    on the first ``fail`` recommend calls counted in ``state``, shared by every instance (one per process)."""

    name = "flaky"

    def __init__(self, state: dict, fail: int = 1, **kw):
        super().__init__(**kw)
        self.state, self.fail = state, fail

    def recommend(self, history):
        self.state["calls"] = self.state.get("calls", 0) + 1
        self.recommendation_fallback = self.state["calls"] <= self.fail
        return self.space.center() if self.recommendation_fallback else super().recommend(history)

    def predict(self, history, mixture):
        return (3.5, 0.2) if self.recommendation_fallback else (3.0, 0.1)


def _rows(directory):
    with StoreReader(directory) as st:
        return st.recommendation_rows()


def test_a_stored_fallback_is_recomputed_on_resume(tmp_path):
    state = {}
    b = SyntheticBackend(k=3, seed=0)
    s = run_campaign(b, FlakyModel(state), budget=3, seed=0, directory=tmp_path, max_runs=1)
    assert s["n_runs"] == 1 and s["fallback"] is True and s["n_fallback_recommendations"] == 1
    rows = _rows(tmp_path)
    assert [(r["n_finished"], r["fallback"], r["pred_mean"], r["pred_sd"]) for r in rows] == [(1, True, 3.5, 0.2)]

    # resumed (a new process: a new policy, the model works now): a new row replaces the fallback at once
    s = run_campaign(b, FlakyModel(state), budget=3, seed=0, directory=tmp_path, max_runs=1)
    rows = _rows(tmp_path)
    assert [(r["n_finished"], r["fallback"], r["pred_mean"]) for r in rows] == [(1, True, 3.5), (1, False, 3.0)]
    assert rows[1]["run_id"] == rows[0]["run_id"] == "r00000"
    assert s["fallback"] is False and s["n_fallback_recommendations"] == 1 and s["n_runs"] == 1
    assert s["predicted"] == {"mean": 3.0, "sd": 0.1}
    assert json.loads((tmp_path / "summary.json").read_text())["n_fallback_recommendations"] == 1

    # resumed again, the last recommendation is the model's: nothing is recomputed
    run_campaign(b, FlakyModel(state), budget=3, seed=0, directory=tmp_path, max_runs=1)
    assert len(_rows(tmp_path)) == 2


def test_a_campaign_killed_after_a_fallback_resumes_to_the_models_answer(tmp_path):
    """Killed (an exception out of the loop) right after its first recommendation, a fallback; resumed to the end."""
    state = {}
    b = SyntheticBackend(k=3, seed=0)
    camp = Campaign(b, FlakyModel(state), budget=3, seed=0, directory=tmp_path)
    real = camp.report.recommend

    def recommend_then_die(history, run_id):
        real(history, run_id)
        raise KeyboardInterrupt  # the process is killed after the recommendation is stored

    camp.report.recommend = recommend_then_die
    with pytest.raises(KeyboardInterrupt):
        camp.run()
    camp.close()
    assert [r["fallback"] for r in _rows(tmp_path)] == [True]
    assert not (tmp_path / "summary.json").exists()

    s = run_campaign(b, FlakyModel(state), budget=3, seed=0, directory=tmp_path)
    rows = _rows(tmp_path)
    assert s["n_runs"] == 3 and rows[-1]["fallback"] is False and s["fallback"] is False
    assert s["n_fallback_recommendations"] == 1 and sum(r["fallback"] for r in rows) == 1
    assert [r["n_finished"] for r in rows] == [1, 1, 2, 3]  # the fallback, its replacement, then one per run


def test_policies_without_a_model_store_no_prediction(tmp_path):
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, seed=0, directory=tmp_path)
    rows = _rows(tmp_path)
    assert all(r["pred_mean"] is None and r["pred_sd"] is None and r["fallback"] is False for r in rows)
    assert s["n_fallback_recommendations"] == 0 and s["predicted"] is None


def test_a_gp_policy_flags_its_numerical_fallback(tmp_path, monkeypatch):
    """MF-BO whose recommendation fails numerically once: stored as a fallback (the best observed run), with the
    model's prediction of it; the next recommendation is the model's again."""
    from bomix.policies.bo import MFBOPolicy

    torch.set_num_threads(1)
    pol = MFBOPolicy(n_init=3, gp={"maxiter": 5}, search={"raw_samples": 16, "starts": 1, "iters": 2}, max_obs=30,
                     max_per_run=2)
    real, calls = MFBOPolicy._recommend, []

    def failing_once(self, history):
        calls.append(len(history.results))
        if len(calls) == 2:
            raise torch.linalg.LinAlgError("not positive-definite")
        return real(self, history)

    monkeypatch.setattr(MFBOPolicy, "_recommend", failing_once)
    run_campaign(SyntheticBackend(k=3, seed=0), pol, budget=3, seed=0, directory=tmp_path, max_runs=5)
    rows = _rows(tmp_path)
    flagged = [r["fallback"] for r in rows]
    assert flagged.count(True) == 1 and flagged[-1] is False
    fell_back = rows[flagged.index(True)]
    assert fell_back["pred_mean"] is not None and fell_back["pred_sd"] > 0
    assert pol.diagnostics()["fallbacks"] >= 1
