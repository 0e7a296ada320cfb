"""The report's prediction figure: every recommendation's predicted mean +- sd against its true value over cost,
fallbacks marked, coverage in the title; a store from before predictions were stored shows the latest one."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.report.data import load_campaign
from bomix.report.figures import coverage, prediction


class Calibrated(RandomPolicy):
    """Predicts each recommendation's true value + 0.05 with sd 0.1 (within 1 sd), falling back on the first call."""

    name = "calibrated"

    def recommend(self, history):
        self.recommendation_fallback = len(history.results) == 1
        return super().recommend(history)

    def predict(self, history, mixture):
        return float(self.truth(mixture)) + 0.05, 0.1


def _traces(fig) -> list[dict]:
    """The figure's traces with their arrays decoded (plotly writes numpy arrays as ``{"dtype", "bdata"}``)."""
    import base64
    import json

    def decode(v):
        if isinstance(v, dict) and set(v) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
        if isinstance(v, dict):
            return {k: decode(x) for k, x in v.items()}
        return v

    return [decode(t) for t in json.loads(fig.json)["data"]]


def _campaign(directory):
    b = SyntheticBackend(k=3, noise=0.01, seed=0)
    pol = Calibrated()
    # a test double (a real policy never sees the truth)
    pol.truth = lambda m: b.true_value(m, b.space.target, pol.problem.objective)
    return run_campaign(b, pol, budget=3, seed=0, directory=directory)


def test_every_recommendation_is_plotted_with_its_prediction(tmp_path):
    _campaign(tmp_path / "c")
    c = load_campaign(tmp_path / "c")
    rec = c.recommendations
    assert c.has_predictions and len(rec) == 3
    assert np.allclose(rec["pred_mean"], rec["true_value"] + 0.05) and np.allclose(rec["pred_sd"], 0.1)
    assert rec["fallback"].tolist() == [True, False, False]
    assert coverage(rec) == (3, 3, 3)
    fig = prediction(c)
    data = _traces(fig)
    pred = next(t for t in data if t["name"] == "predicted ± sd (policy's model)")
    assert list(pred["x"]) == rec["budget_used"].tolist() and np.allclose(pred["y"], rec["pred_mean"])
    assert np.allclose(pred["error_y"]["array"], 0.1)
    assert "numerical fallback" in pred["hovertext"][0] and "numerical fallback" not in pred["hovertext"][1]
    marks = next(t for t in data if t["name"] == "numerical fallback")
    assert list(marks["x"]) == [rec["budget_used"][0]]
    truth = next(t for t in data if t["name"] == "recommendation's true value")
    assert np.allclose(truth["y"], rec["true_value"])
    assert "within ±1 sd: 3 of 3, ±2 sd: 3" in fig.title


def test_a_store_without_stored_predictions_shows_the_latest_one(tmp_path):
    _campaign(tmp_path / "c")
    shutil.copytree(tmp_path / "c", tmp_path / "old")
    con = sqlite3.connect(tmp_path / "old" / "store.sqlite", isolation_level=None)
    con.execute("UPDATE recommendations SET pred_mean = NULL, pred_sd = NULL, fallback = NULL")
    con.close()
    c = load_campaign(tmp_path / "old")
    assert not c.has_predictions and c.predicted is not None
    fig = prediction(c)
    pred = next(t for t in _traces(fig) if t["name"] == "predicted ± sd (policy's model)")
    assert list(pred["x"]) == [c.recommendations["budget_used"].iloc[-1]] and list(pred["y"]) == [c.predicted["mean"]]
    assert "within" not in fig.title


def test_no_prediction_no_figure(tmp_path):
    run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, seed=0, directory=tmp_path / "r")
    assert prediction(load_campaign(tmp_path / "r")) is None
