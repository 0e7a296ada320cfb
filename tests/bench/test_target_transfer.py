"""benchmarks/target_transfer.py: the recommendation's difference with the target optimum, true and predicted."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from target_transfer import summarize, transfer  # noqa: E402

SMALL = ["backend=synthetic", "policy=mfbo", "max_runs=8", "policy.n_init=6", "policy.search.raw_samples=16",
         "policy.search.starts=2", "policy.search.iters=3", "policy.gp.maxiter=20"]


def test_the_target_difference_is_the_campaigns_regret(tmp_path):
    from bomix.app import compose, run_from_config

    d = tmp_path / "seed2"
    summary = run_from_config(compose([*SMALL, "seed=2", "budget=3.0", "progress=false"]), str(d))
    out = transfer(d, SMALL, 3.0)
    assert out["seed"] == 2 and out["rows"][-1]["fidelity"] == "1B@20000"  # the target last
    assert out["regret"] == pytest.approx(summary["regret"], abs=1e-9)  # D at the target: rec - optimum = regret
    assert sum(r["runs"] for r in out["rows"]) == summary["n_runs"]
    assert all(r["sd_D"] > 0 for r in out["rows"])  # a joint posterior of two distinct points


def test_summary_counts_sign_flips_and_optimism():
    def seed(proxy, target):
        return {"rows": [{"fidelity": "p", "true_D": proxy[0], "pred_D": proxy[1], "sd_D": 0.1},
                         {"fidelity": "t", "true_D": target[0], "pred_D": target[1], "sd_D": 0.1}]}

    s = summarize([seed((-0.01, -0.06), (0.05, -0.07)), seed((0.2, 0.2), (0.2, -0.2)), seed((0.1, 0.1), (0.1, 0.1))])
    assert s["truth_sign_flips"] == 1 and s["gp_carries_proxy_sign"] == 2
    assert (s["gp_sign_right_proxy"], s["gp_sign_right_target"]) == (3, 1)
    assert s["median_error"]["proxy"] == pytest.approx(0.0) and s["median_error_in_sd"]["target"] == pytest.approx(-1.2)
