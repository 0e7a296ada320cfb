"""benchmarks/recommendation_rules.py: every rule recommends from the same finished campaign, paired."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from recommendation_rules import BASELINE_KAPPA, PROBLEMS, aggregate, evaluate, markdown  # noqa: E402

from bomix.policies.bo.mfbo import MFBO_REC_KAPPA  # noqa: E402

SMALL = ["backend=synthetic", "policy=mfbo", "max_runs=8", "policy.n_init=6", "policy.search.raw_samples=16",
         "policy.search.starts=2", "policy.search.iters=3", "policy.gp.maxiter=20"]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    from bomix.app import compose, run_from_config

    d = tmp_path_factory.mktemp("rr") / "seed1"
    summary = run_from_config(compose([*SMALL, "seed=1", "budget=3.0", "progress=false"]), str(d))
    return d, summary


def test_the_default_rule_reproduces_the_campaigns_own_recommendation(campaign):
    d, summary = campaign
    out = evaluate(d, SMALL, 3.0, zs=[1.0], kappas=[0.0, MFBO_REC_KAPPA], topks=[64], evidence=[0.05])
    assert out["seed"] == 1 and out["n_runs"] == summary["n_runs"] == 8
    assert set(out["rules"]) == {"argmax", "shrink1", "pbest", "kappa0", "kappa2", "topk64", "evidence0.05", "centre",
                                 "contrast"}
    # mfbo's default (kappa 2) on the same history gives the campaign's own answer; the argmax row is kappa 1
    assert out["rules"]["kappa2"]["regret"] == pytest.approx(summary["regret"], abs=1e-9)
    assert BASELINE_KAPPA == 1.0 != MFBO_REC_KAPPA
    # with mfbo's default as the base (--baseline-kappa 2) the argmax row is the campaign's own answer
    base2 = evaluate(d, SMALL, 3.0, zs=[], kappas=[1.0], baseline_kappa=MFBO_REC_KAPPA)
    assert base2["rules"]["argmax"]["regret"] == pytest.approx(summary["regret"], abs=1e-9)
    assert base2["rules"]["kappa1"]["regret"] == pytest.approx(out["rules"]["argmax"]["regret"], abs=1e-9)
    assert out["rules"]["argmax"]["shrink"] is None and out["rules"]["shrink1"]["shrink"]["z"] == 1.0
    assert out["uniform"] == pytest.approx(summary["uniform_regret"])
    assert out["rules"]["topk64"]["mixture"] != out["rules"]["argmax"]["mixture"]  # the rules differ
    # a tight evidence radius keeps the recommendation next to a run the campaign made
    from bomix.policies.bo.evidence import evidence_radius
    from bomix.proposals import tv_distance
    from bomix.store import StoreReader

    with StoreReader(d) as store:
        runs = np.array([r.spec.mixture.weights for r in store.load(list(out["rules"]["argmax"]["mixture"]))[0]])
    near = np.array(list(out["rules"]["evidence0.05"]["mixture"].values()))
    assert tv_distance(near[None], runs)[0] <= evidence_radius(runs, 0.05) + 1e-3  # (mixtures rounded to 4 digits)
    json.dumps(out)  # written as JSON


def test_aggregate_counts_paired_wins_and_the_tail():
    def seed(s, argmax, other):
        return {"seed": s, "uniform": 0.05, "rules": {
            "argmax": {"regret": argmax, "extrapolated": None, "max_weight": 0.5},
            "pbest": {"regret": other, "extrapolated": False, "max_weight": 0.99}}}

    agg = aggregate([seed(0, 0.02, 0.01), seed(1, 0.03, 0.04), seed(2, 0.10, 0.01)])
    p = agg["rules"]["pbest"]
    assert (p["better_than_argmax"], p["worse_than_argmax"], p["one_domain"]) == (2, 1, 3)
    assert p["inside_trust_region"] == 3 and agg["rules"]["argmax"]["trust_known"] == 0
    assert agg["rules"]["argmax"]["p90_le_uniform"] is False and p["p90_le_uniform"] is True
    text = markdown({"toy": agg})
    assert "| toy | pbest | 3 |" in text and "no trust region" in text


def test_the_many_domain_problems_are_many_domains_campaigns():
    """k32 / k64 use benchmarks/many_domains.py's overrides, so its mfbo campaigns can be evaluated in place."""
    from many_domains import backend_overrides, mfbo_max_runs

    over, budget = PROBLEMS["k64"]
    assert budget == 0.5 and over[:3] == backend_overrides(64) and f"max_runs={mfbo_max_runs(64, 0.5, 10)}" in over
