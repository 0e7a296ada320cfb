"""Stores written before a column was added open, resume and read: the recommendations' prediction and fallback
flag (``pred_mean``, ``pred_sd``, ``fallback``) and, older still, ``extrapolated``."""

import json
import sqlite3

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy
from bomix.space import Mixture
from bomix.store import Store, StoreReader
from bomix.store.schema import ADDED_COLUMNS, SCHEMA_VERSION

#: the recommendations table as bomix wrote it before predictions were stored (schema version 1)
V1_RECOMMENDATIONS = """
CREATE TABLE recommendations (
    idx INTEGER PRIMARY KEY,
    n_finished INTEGER NOT NULL,
    run_id TEXT,
    budget_used REAL NOT NULL,
    mixture TEXT NOT NULL,
    true_value REAL,
    regret REAL,
    created REAL NOT NULL,
    extrapolated INTEGER
)"""
#: ... and before ``extrapolated`` (schema version 0, before versioning)
V0_RECOMMENDATIONS = V1_RECOMMENDATIONS.replace(",\n    extrapolated INTEGER", "")
V1_COLUMNS = "idx, n_finished, run_id, budget_used, mixture, true_value, regret, created, extrapolated"
V0_COLUMNS = V1_COLUMNS.removesuffix(", extrapolated")


def _make_old(directory, create: str, columns: str, version: int) -> None:
    """Rewrite a campaign's recommendations table as an older bomix wrote it (same rows, older columns)."""
    c = sqlite3.connect(directory / "store.sqlite", isolation_level=None)
    c.execute("BEGIN")
    c.execute("ALTER TABLE recommendations RENAME TO new_recommendations")
    c.execute(create)
    c.execute(f"INSERT INTO recommendations({columns}) SELECT {columns} FROM new_recommendations")
    c.execute("DROP TABLE new_recommendations")
    c.execute("COMMIT")
    c.execute(f"PRAGMA user_version = {version}")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def _columns(directory) -> list[str]:
    c = sqlite3.connect(directory / "store.sqlite")
    try:
        return [r[1] for r in c.execute("PRAGMA table_info(recommendations)")]
    finally:
        c.close()


@pytest.mark.parametrize("old", ["v1", "v0"])
def test_an_old_store_reads_resumes_and_gains_the_columns(tmp_path, old):
    b = SyntheticBackend(k=3)
    run_campaign(b, RandomPolicy(), budget=2, seed=0, directory=tmp_path)
    create, columns, version = ((V1_RECOMMENDATIONS, V1_COLUMNS, 1) if old == "v1"
                                else (V0_RECOMMENDATIONS, V0_COLUMNS, 0))
    _make_old(tmp_path, create, columns, version)
    assert "pred_mean" not in _columns(tmp_path)
    before = (tmp_path / "store.sqlite").read_bytes()

    with StoreReader(tmp_path) as rd:  # read-only: not migrated, the new columns read as unknown
        rows = rd.recommendation_rows()
        last = rd.last_recommendation()
        table = rd.recommendations()
        assert rd.n_fallback_recommendations() == 0
    assert (tmp_path / "store.sqlite").read_bytes() == before
    assert len(rows) == 2 and all(r["pred_mean"] is None and r["pred_sd"] is None and r["fallback"] is None
                                  for r in rows)
    assert last["fallback"] is None and last["pred_mean"] is None and last["regret"] is not None
    assert {"pred_mean", "pred_sd", "fallback"} <= set(table.columns) and table["pred_mean"].isna().all()

    s = run_campaign(b, RandomPolicy(), budget=3, seed=0, directory=tmp_path)  # resumes: migrated, one more run
    assert s["n_runs"] == 3 and s["n_fallback_recommendations"] == 0 and s["fallback"] is False
    assert [c for _, c, _ in ADDED_COLUMNS if c not in _columns(tmp_path)] == []
    with StoreReader(tmp_path) as rd:
        rows = rd.recommendation_rows()
    assert [r["fallback"] for r in rows] == [None, None, False]
    assert [r["n_finished"] for r in rows] == [1, 2, 3]
    c = sqlite3.connect(tmp_path / "store.sqlite")
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    c.close()


def test_a_migrated_store_is_not_written_again_when_opened(tmp_path):
    run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=1, seed=0, directory=tmp_path)
    _make_old(tmp_path, V1_RECOMMENDATIONS, V1_COLUMNS, 1)
    Store(tmp_path).close()  # migrates
    c = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    before = (tmp_path / "store.sqlite").read_bytes()
    Store(tmp_path).close()
    assert (tmp_path / "store.sqlite").read_bytes() == before


def test_prediction_and_fallback_round_trip(tmp_path):
    with Store(tmp_path) as st:
        st.set_meta(domains=["a", "b"])
        st.add_recommendation(0, None, 0.0, Mixture([0.5, 0.5]), None, None)  # unknown (the old call)
        st.add_recommendation(1, "r00000", 1.0, Mixture([0.2, 0.8]), 1.3, 0.1, predicted=(1.25, 0.04), fallback=False)
        st.add_recommendation(2, "r00001", 2.0, Mixture([1.0, 0.0]), 1.5, 0.3, predicted=None, fallback=True)
        with pytest.raises(BomixError, match="cannot record the prediction nan"):
            st.add_recommendation(3, "r00002", 3.0, Mixture([1.0, 0.0]), None, None, predicted=(np.nan, 1.0))
        with pytest.raises(BomixError, match="sd >= 0"):
            st.add_recommendation(3, "r00002", 3.0, Mixture([1.0, 0.0]), None, None, predicted=(1.0, -1.0))
        rows = st.recommendation_rows()
        last = st.last_recommendation()
        assert st.n_fallback_recommendations() == 1
        table = st.recommendations()
    assert [(r["pred_mean"], r["pred_sd"], r["fallback"]) for r in rows] == [
        (None, None, None), (1.25, 0.04, False), (None, None, True)]
    assert last["fallback"] is True and last["pred_mean"] is None
    assert table["pred_mean"].tolist()[1] == 1.25 and np.isnan(table["pred_sd"].tolist()[2])
    assert np.isnan(table["fallback"][0]) and table["fallback"].tolist()[1:] == [0, 1]  # coerced to float


@pytest.mark.parametrize("sql, match", [
    ("UPDATE recommendations SET pred_sd = -1", "column pred_sd, row 1: is -1.0, not a finite number >= 0"),
    ("UPDATE recommendations SET pred_mean = 'x'", "column pred_mean, row 1: is 'x', not a finite number"),
    ("UPDATE recommendations SET pred_sd = NULL", "column pred_sd, row 1: and pred_mean are not both set"),
    ("UPDATE recommendations SET fallback = 2", "column fallback, row 1: is 2, not 0, 1 or NULL"),
])
def test_a_hand_edited_prediction_is_refused_in_one_line(tmp_path, sql, match):
    with Store(tmp_path) as st:
        st.set_meta(domains=["a", "b"])
        st.add_recommendation(1, None, 1.0, Mixture([0.2, 0.8]), None, None, predicted=(1.25, 0.04), fallback=False)
    c = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
    c.execute(sql)
    c.close()
    before = (tmp_path / "store.sqlite").read_bytes()
    for opener in (Store, StoreReader):
        with pytest.raises(BomixError, match=match) as e:
            opener(tmp_path)
        assert "\n" not in str(e.value)
    assert (tmp_path / "store.sqlite").read_bytes() == before


def test_export_holds_the_new_columns(tmp_path):
    with Store(tmp_path) as st:
        st.set_meta(domains=["a", "b"])
        st.add_recommendation(1, None, 1.0, Mixture([0.2, 0.8]), None, None, predicted=(1.25, 0.04), fallback=True)
        recs = st.to_pandas()["recommendations"]
    assert recs[["pred_mean", "pred_sd", "fallback"]].values.tolist() == [[1.25, 0.04, 1]]
    assert json.loads(recs["mixture"][0]) == [0.2, 0.8]
