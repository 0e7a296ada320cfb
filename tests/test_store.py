import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Mixture
from bomix.store import Store


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
