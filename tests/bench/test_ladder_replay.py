"""benchmarks/ladder_replay.py: a logged ladder in the run-table format, and the per-campaign facts it reports."""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from ladder_replay import LADDERS, campaign_facts, ladder_table  # noqa: E402


def test_ladder_table_has_the_held_out_shape_and_validates():
    from bomix.runtable import validate

    t, metrics = ladder_table("synthetic", noise=0.005)
    runs = validate(t)
    scales, steps = LADDERS["synthetic"]
    assert t["run_id"].nunique() == sum(n for _, n in scales) == 108
    assert sorted(set(t["step"])) == list(steps)
    assert t.groupby("run_id")["step"].count().eq(len(steps)).all()  # every run logged at every checkpoint
    assert {"loss:target", "loss:d0"} <= set(metrics) and runs.table is not None
    again, _ = ladder_table("synthetic", noise=0.005)
    assert again.equals(t)  # deterministic: the simulator is rebuilt only when the table changes


def test_campaign_facts_read_the_store(tmp_path):
    from bomix.backends.synthetic import SyntheticBackend
    from bomix.campaign import run_campaign
    from bomix.policies.heuristics import RandomPolicy

    b = SyntheticBackend(k=3, noise=0.0)
    s = run_campaign(b, RandomPolicy(), budget=1.5, directory=tmp_path / "c", seed=0)
    f = campaign_facts(tmp_path / "c")
    assert f["ran_target"] is True  # random runs at the target: a 1.5-run budget buys one
    assert f["max_weight"] == max(s["recommendation"].values())
    assert f["rise"] == 0.0  # one run, one recommendation: the final one is the best
