"""`bomix bench` over real campaigns of the synthetic backend agrees with their own summaries and stores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.bench.cli import cli_main
from bomix.bench.loading import load_campaigns
from bomix.bench.reach import seed_cost_to_reach
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy, UniformPolicy
from bomix.store import Store


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    summaries = {}
    for policy in (RandomPolicy(), UniformPolicy()):
        for seed in (0, 1):
            d = root / policy.name / f"seed{seed}"
            summaries[(policy.name, seed)] = run_campaign(
                SyntheticBackend(k=3, noise=0.01), type(policy)(), budget=4.0, seed=seed, directory=d)
    return root, summaries


def test_bench_matches_campaign_summaries(sweep, tmp_path, capsys):
    root, summaries = sweep
    out = tmp_path / "bench"
    assert cli_main([str(root), "--out", str(out), "--eps", "0.05", "0.01"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_campaigns"] == 4
    final = {f["policy"]: f for f in res["final"]}
    assert set(final) == {"random", "uniform"}
    for name in final:
        regrets = [summaries[(name, s)]["regret"] for s in (0, 1)]
        costs = [summaries[(name, s)]["budget_used"] for s in (0, 1)]
        assert final[name]["regret_median"] == pytest.approx(np.median(regrets))
        assert final[name]["cost_median"] == pytest.approx(np.median(costs))
    assert (out / "regret_synthetic_loss_target.png").exists()
    assert "## synthetic / loss:target (2 seeds per policy)" in capsys.readouterr().out


def test_cost_to_reach_matches_the_store(sweep):
    root, summaries = sweep
    per = seed_cost_to_reach(load_campaigns([root]), [0.05])
    for row in per.itertuples():
        recs = Store(row.campaign).to_pandas()["recommendations"]
        hit = recs[recs["regret"] <= 0.05]
        assert row.reached == (len(hit) > 0)
        assert row.cost == pytest.approx(hit["budget_used"].iloc[0] if len(hit) else 4.0)
