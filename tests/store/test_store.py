import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Mixture
from bomix.store import Store, StoreReader


def _spec(i, w=(0.5, 0.5)):
    return RunSpec(Mixture(list(w)), "s", 100, seed=i, run_id=f"r{i:05d}", tag="t")


def test_pending_finish_load_roundtrip(tmp_path):
    st = Store(tmp_path)
    st.set_meta(domains=["a", "b"], config={"x": 1})
    st.add_pending([(_spec(0), 0.25), (_spec(1, (1.0, 0.0)), 0.5)])
    res = RunResult(_spec(1, (1.0, 0.0)), "ok", Curve([50, 100], {"m": [2.0, np.nan]}), cost=0.5, wall_time=1.0)
    st.finish(res)
    st.finish(res)  # idempotent
    results, pending, spent = st.load(["a", "b"])
    assert spent == pytest.approx(0.75)
    assert [p.run_id for p in pending] == ["r00000"]
    assert len(results) == 1 and results[0].spec.run_id == "r00001"
    assert results[0].curve.metrics["m"][0] == 2.0 and np.isnan(results[0].curve.metrics["m"][1])
    assert results[0].spec.mixture.domains == ("a", "b")
    assert st.get_meta("config") == {"x": 1}
    assert st.next_index() == 2


def test_recommendations_and_export(tmp_path):
    st = Store(tmp_path)
    st.set_meta(domains=["a", "b"])
    st.add_pending([(_spec(0), 1.0)])
    st.finish(RunResult(_spec(0), "ok", Curve([100], {"m": [1.0]}), cost=1.0))
    st.add_recommendation(1, "r00000", 1.0, Mixture([0.5, 0.5]), 1.2, 0.1)
    assert st.last_recommendation()["regret"] == 0.1
    tabs = st.to_pandas()
    assert list(tabs["runs"]["w:a"]) == [0.5]
    assert len(tabs["curves"]) == 1 and len(tabs["recommendations"]) == 1
    paths = st.to_parquet(tmp_path / "pq")
    assert {p.name for p in paths} == {"runs.parquet", "curves.parquet", "recommendations.parquet", "meta.parquet"}


def test_not_a_store(tmp_path):
    (tmp_path / "store.sqlite").write_text("this is not sqlite at all " * 100)
    with pytest.raises(BomixError, match="not a bomix store"):
        Store(tmp_path)


def test_store_is_a_context_manager_and_records_its_schema_version(tmp_path):
    import sqlite3

    from bomix.store.schema import SCHEMA_VERSION

    with Store(tmp_path) as st:
        st.set_meta(domains=["a", "b"])
    with pytest.raises(sqlite3.ProgrammingError):
        st.get_meta("domains")  # closed on exit
    with sqlite3.connect(tmp_path / "store.sqlite") as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused_with_one_line(tmp_path):
    import sqlite3

    Store(tmp_path).close()
    c = sqlite3.connect(tmp_path / "store.sqlite")
    c.execute("PRAGMA user_version = 99")
    c.close()
    for opener in (Store, StoreReader):
        with pytest.raises(BomixError, match="schema version 99; this bomix reads up to 1: upgrade bomix") as e:
            opener(tmp_path)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\xff" * 5000, b"garbage" * 300])
def test_empty_or_corrupt_store_is_refused_unless_forced(tmp_path, content):
    path = tmp_path / "store.sqlite"
    path.write_bytes(content)
    with pytest.raises(BomixError, match="is not a bomix store .*force=true") as e:
        Store(tmp_path)
    assert "\n" not in str(e.value)
    assert path.read_bytes() == content  # untouched
    with pytest.raises(BomixError, match="is not a bomix store"):
        StoreReader(tmp_path)
    with Store(tmp_path, force=True) as st:  # moved aside, never deleted
        st.set_meta(x=1)
    aside = list(tmp_path.glob("store.sqlite.bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content


def test_reader_is_read_only_and_never_creates(tmp_path):
    with pytest.raises(BomixError, match="has no store.sqlite"):
        StoreReader(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()
    with Store(tmp_path) as st:
        st.set_meta(domains=["a", "b"])
        st.add_pending([(_spec(0), 1.0)])
    with StoreReader(tmp_path) as rd:
        assert rd.get_meta("domains") == ["a", "b"]
        assert len(rd.to_pandas()["runs"]) == 1
        with pytest.raises(BomixError, match="read-only"):
            rd.set_meta(y=2)


def test_stored_spec_with_a_path_as_run_id_or_foreign_meta_is_refused(tmp_path):
    import json
    import sqlite3

    with Store(tmp_path) as st:
        st.add_pending([(_spec(0), 1.0)])
    good = json.loads(sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT spec FROM runs").fetchone()[0])
    cases = [
        ("../../etc/x", dict(good, run_id="../../etc/x"), "not a bomix run id"),
        ("r00001", dict(good, run_id="r00001", resume_from="/etc/passwd"), "resume_from.*not a bomix run id"),
        ("r00001", dict(good, run_id="r00001", meta={"callback": "os:system"}), r"keys \['callback'\] outside"),
        ("r00001", dict(good, run_id="r00002"), "says run_id='r00002'"),
        ("r00001", dict(good, run_id="r00001", mixture=[2.0, 1.0]), "spec is invalid"),
        ("r00001", dict(good, run_id="r00001", steps="x"), "spec is invalid"),
    ]
    for rid, spec, match in cases:
        c = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
        c.execute("DELETE FROM runs WHERE idx = 1")
        c.execute("INSERT INTO runs(run_id, idx, spec, scale, steps, status, charged, dispatched_at)"
                  " VALUES (?, 1, ?, 's', 100, 'pending', 1.0, 0)", (rid, json.dumps(spec)))
        c.close()
        with Store(tmp_path) as st, pytest.raises(BomixError, match=match) as e:
            st.load(["a", "b"])
        assert "\n" not in str(e.value)


def test_an_sqlite_file_of_something_else_is_refused_and_left_alone(tmp_path):
    import sqlite3

    c = sqlite3.connect(tmp_path / "store.sqlite")
    c.execute("CREATE TABLE invoices (id INTEGER)")
    c.commit()
    c.close()
    with pytest.raises(BomixError, match=r"SQLite file of something else \(tables \['invoices'\]\)"):
        Store(tmp_path)
    c = sqlite3.connect(tmp_path / "store.sqlite")
    assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    c.close()
