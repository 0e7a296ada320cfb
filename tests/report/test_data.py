"""bomix.report.data: the tables the report draws are the store's content, read-only, for campaigns, sweeps and
studies (finished or with pending runs)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.report.data import find_directories, load, load_campaign
from bomix.store import StoreReader
from bomix.study.show import format_report, report


def test_runs_recommendations_and_costs_are_the_stores(sweep):
    d = sweep / "hb"
    c = load_campaign(d)
    with StoreReader(d) as store:
        domains = store.get_meta("domains")
        objective = store.objective()
        results, pending, spent = store.load(domains, objective=objective)
        recs = store.recommendation_rows()
        optimum = store.get_meta("optimum")["value"]
    summary = json.loads((d / "summary.json").read_text())
    assert c.kind == "campaign" and c.policy == "hyperband" and c.status == "done" and c.domains == domains
    assert len(c.runs) == len(results) == summary["n_runs"] == 31 and not pending
    assert (np.diff(c.runs["cum_cost"]) > 0).all() and c.runs["cum_cost"].iloc[-1] == pytest.approx(spent)
    assert spent == pytest.approx(summary["budget_used"])
    by_id = {r.spec.run_id: float(objective.on_curve(r.curve)[-1]) for r in results}
    assert dict(zip(c.runs["run_id"], c.runs["objective"])) == pytest.approx(by_id)
    w = c.runs[[f"w:{x}" for x in domains]].to_numpy()
    assert np.allclose(w.sum(axis=1), 1.0)
    # recommendations, true values and regrets (a simulator), in order
    assert len(c.recommendations) == len(recs) and c.has_truth
    assert c.recommendations["budget_used"].tolist() == pytest.approx([r["budget_used"] for r in recs])
    assert c.recommendations["regret"].iloc[-1] == pytest.approx(summary["regret"])
    assert c.optimum == pytest.approx(optimum)
    # cost per fidelity: cheapest first, every run and every charge counted once
    assert c.fidelities == ["1B@500", "1B@5000", "1B@10000", "1B@20000"] == c.fidelity_cost["fidelity"].tolist()
    assert c.fidelity_cost["runs"].sum() == 31 and c.fidelity_cost["charged"].sum() == pytest.approx(spent)
    # runner-ups: the best runs at the highest fidelity reached
    top = c.runs[c.runs["fidelity"] == "1B@20000"].sort_values("objective")
    assert c.runners_up["run_id"].tolist() == top["run_id"].tolist()[:5]
    # the text `bomix show` prints
    assert c.summary_text == format_report(report(d, n_runs=0))
    assert c.final["regret"] == pytest.approx(summary["regret"]) and c.final["runs"] == 31


def test_a_sweep_folder_gives_every_campaign_with_short_labels_and_the_prediction(sweep):
    data = load([sweep])
    assert [c.label for c in data.campaigns] == ["hb", "pred", "random"] and not data.errors
    pred = {c.label: c for c in data.campaigns}["pred"]
    assert pred.predicted == {"mean": 3.2, "sd": 0.05}
    assert {c.label: c.final["runs"] for c in data.campaigns} == {"hb": 31, "pred": 2, "random": 3}


def test_a_damaged_directory_is_listed_as_an_error_and_left_as_it_was(sweep, tmp_path):
    shutil.copytree(sweep / "random", tmp_path / "good")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "store.sqlite").write_bytes(b"not a database at all" * 10)
    data = load([tmp_path])
    assert [c.label for c in data.campaigns] == ["good"]
    assert [e["directory"] for e in data.errors] == ["broken"] and "\n" not in data.errors[0]["error"]
    assert (tmp_path / "broken" / "store.sqlite").read_bytes() == b"not a database at all" * 10
    assert sorted(p.name for p in (tmp_path / "broken").iterdir()) == ["store.sqlite"]  # nothing written


def test_missing_path_or_nothing_found_is_one_line(tmp_path):
    with pytest.raises(BomixError, match="does not exist"):
        load([tmp_path / "nope"])
    with pytest.raises(BomixError, match="no campaign or study directory"):
        load([tmp_path])
    assert load([tmp_path], allow_empty=True).campaigns == [] and find_directories([tmp_path]) == []


def test_a_study_with_a_pending_run(tmp_path):
    from bomix import Study

    with Study.create(tmp_path / "s", domains=["code", "web"], ladder={"20M": 2e7, "1B": 1e9}, steps=[1000, 4000],
                      objective="val_loss", policy="random", budget=3.0) as study:
        trial = study.ask()
        c = load_campaign(tmp_path / "s")
        assert c.kind == "study" and c.runs["status"].tolist() == ["pending"] and c.runs["objective"].isna().all()
        assert c.fidelity_cost["charged"].sum() == pytest.approx(1.0) and not c.has_truth and not len(c.runners_up)
        study.tell(trial.run_id, value=2.5)
    c = load_campaign(tmp_path / "s")
    assert c.runs["status"].tolist() == ["ok"] and c.runs["objective"].tolist() == [2.5]
    assert c.runners_up["run_id"].tolist() == [trial.run_id] and c.best_observed["value"] == 2.5
