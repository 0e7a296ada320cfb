"""benchmarks/calibration.py: coverage of the stored predictions (+- 1 / 2 sd) by the true values."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from calibration import calibration, main, read_campaign, split, standardized, stats, verdict  # noqa: E402


def _row(mean, sd, true, fallback=False, n=1):
    return {"n_finished": n, "budget_used": 0.1 * n, "pred_mean": mean, "pred_sd": sd, "true_value": true,
            "fallback": fallback}


def test_coverage_median_and_split_of_known_errors():
    # z = 0.5, -1.5, 3, 0 (exact, sd 0), -inf (a miss with sd 0); one row without a prediction is not scored
    rows = [_row(None, None, 1.0), _row(1.0, 0.2, 1.1), _row(1.0, 0.2, 0.7), _row(1.0, 0.1, 1.3),
            _row(2.0, 0.0, 2.0), _row(2.0, 0.0, 1.0, fallback=True)]
    z = standardized(rows)
    assert np.allclose(z[:4], [0.5, -1.5, 3.0, 0.0]) and z[4] == -math.inf
    s = stats(z)
    assert s["n"] == 5 and s["cover1"] == pytest.approx(2 / 5) and s["cover2"] == pytest.approx(3 / 5)
    assert s["median_abs_z"] == pytest.approx(1.5) and s["median_z"] == pytest.approx(0.0)
    early, late = split(rows)
    assert [r["true_value"] for r in early] == [1.1, 0.7] and len(late) == 3
    rep = calibration({"a/seed0": rows, "a/seed1": rows[:3], "b/seed0": rows[1:2]})
    assert rep["per_benchmark"]["a"]["n"] == 7 and rep["per_benchmark"]["b"]["cover1"] == 1.0
    assert rep["per_benchmark"]["a"]["n_fallback"] == 1 and rep["per_benchmark"]["a"]["n_unpredicted"] == 2
    assert rep["overall"]["n"] == 8 and rep["campaigns"]["a/seed0"]["late"]["n"] == 3
    assert sum(p["n"] for p in rep["per_benchmark"]["a"]["by_position"]) == 7
    assert verdict(stats(np.array([0.1] * 7 + [1.5] * 2 + [3.0]))) == "ok"
    assert verdict(stats(np.array([5.0] * 10))) == "1 sd low, 2 sd low (overconfident)"
    assert verdict(stats(np.zeros(10))) == "1 sd high, 2 sd high (underconfident)"


def test_a_tiny_run_writes_the_report(tmp_path, capsys):
    """Two MF-BO campaigns of 5 runs on the synthetic simulator (tiny GP and search sizes)."""
    out = tmp_path / "cal"
    rep = main(["--backends", "synthetic", "--seeds", "2", "--quick", "--budget", "0.5", "--jobs", "1",
                "--out", str(out), "policy.gp.maxiter=5", "policy.search.raw_samples=16", "policy.search.iters=2",
                "policy.n_init=3", "max_runs=5"])
    label = rep["settings"]["label"]
    assert label.startswith("mfbo_quick_")
    saved = json.loads((out / f"calibration_{label}.json").read_text())
    assert (out / f"calibration_{label}.png").stat().st_size > 1000
    assert "| synthetic |" in (out / f"calibration_{label}.md").read_text() and "| overall |" in capsys.readouterr().out
    assert saved["overall"]["n"] == rep["overall"]["n"] > 0 and not saved["failed"]
    # the numbers are those of the stored recommendations
    rows = read_campaign(out / "campaigns" / "synthetic" / label / "seed0")
    assert len(rows) == 5 and saved["campaigns"]["synthetic/seed0"]["n"] == len(standardized(rows))
    assert saved["campaigns"]["synthetic/seed0"]["cover2"] == stats(standardized(rows))["cover2"]
    # a second invocation reuses the finished campaigns
    again = main(["--backends", "synthetic", "--seeds", "2", "--quick", "--budget", "0.5", "--jobs", "1",
                  "--out", str(out), "policy.gp.maxiter=5", "policy.search.raw_samples=16", "policy.search.iters=2",
                  "policy.n_init=3", "max_runs=5"])
    assert "0 of 2 campaigns to run" in capsys.readouterr().out
    assert again["overall"] == saved["overall"]
