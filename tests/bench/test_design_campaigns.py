"""benchmarks/design_campaigns.py: two arms of mfbo settings (initial designs) in whole campaigns, paired per seed."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from design_campaigns import ARMS, aggregate, final, markdown  # noqa: E402

SMALL = ["backend=synthetic", "policy=mfbo", "max_runs=8", "policy.n_init=6", "policy.search.raw_samples=16",
         "policy.search.starts=2", "policy.search.iters=3", "policy.gp.maxiter=20"]


def test_final_reads_each_designs_campaign_and_aggregate_pairs_them(tmp_path):
    from bomix.app import compose, run_from_config

    rows = {}
    for design in ("dirichlet", "simplex"):
        d = tmp_path / design / "seed1"
        summary = run_from_config(compose([*SMALL, *ARMS[design], "seed=1", "budget=3.0", "progress=false"]), str(d))
        out = final(d)
        assert out["seed"] == 1 and out["n_runs"] == 8
        assert out["regret"] == pytest.approx(summary["regret"]) and out["uniform"] == summary["uniform_regret"]
        assert 0 < out["max_weight"] <= 1
        rows[design] = [out]
    assert rows["dirichlet"][0]["regret"] != rows["simplex"][0]["regret"]  # the designs give other campaigns
    agg = aggregate(rows)
    better = rows["simplex"][0]["regret"] < rows["dirichlet"][0]["regret"]
    assert (agg["better"], agg["worse"]) == ((1, 0) if better else (0, 1))
    assert agg["dirichlet"]["median"] == pytest.approx(rows["dirichlet"][0]["regret"])
    table = markdown({"synthetic": agg})
    assert table.count("\n") == 3 and "| synthetic |" in table and "simplex better / worse" in table
    # the reference is the first arm: swapped, the counts swap
    swapped = aggregate({"simplex": rows["simplex"], "dirichlet": rows["dirichlet"]})
    assert (swapped["better"], swapped["worse"]) == (agg["worse"], agg["better"])
    assert "| dirichlet better / worse |" in markdown({"synthetic": swapped}, ("simplex", "dirichlet"))
