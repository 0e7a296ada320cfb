"""benchmarks/phases.py: the two-phase benchmark's ground truth and its per-seed bookkeeping."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import phases as bench  # noqa: E402


def test_truth_is_the_static_and_schedule_optimum_of_the_instance():
    t = bench.truth(3)
    from bomix.backends.synthetic import SyntheticBackend

    b = SyntheticBackend(k=bench.K, seed=3, anneal=bench.ANNEAL, noise=0.01, hetero=1.0)
    _, v = b.optimum(b.default_objective)
    assert t["static_best"] == pytest.approx(v, abs=1e-12)  # the same instance and law as problem=synthetic_phases
    assert t["oracle_gap"] == pytest.approx(t["static_best"] - t["schedule_best"])
    assert 0.01 < t["oracle_gap"] < 0.1  # phases matter on this law (benchmarks/synthetic_phases.py: 0.024-0.046)
    w = np.array(t["schedule_weights"])
    assert w.shape == (2, bench.K) and np.allclose(w.sum(1), 1, atol=1e-3)


def test_stats_are_median_quartiles_and_p90():
    s = bench.stats(list(range(11)))
    assert (s["median"], s["q25"], s["q75"], s["p90"], s["min"], s["max"], s["n"]) == (5, 2.5, 7.5, 9, 0, 10, 11)


def test_one_seed_end_to_end_scores_uniform_against_static_and_schedule(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["phases.py", "--seeds", "1", "--policies", "uniform", "--no-static",
                                      "--check-determinism", "--out", str(tmp_path)])
    bench.main()
    r = json.loads((tmp_path / "phases.json").read_text())
    row = r["per_seed"][0]
    u = row["policies"]["uniform"]
    assert u["regret"] == pytest.approx(u["true_value"] - row["schedule_best"], abs=1e-9)
    assert u["gap"] == pytest.approx(row["static_best"] - u["true_value"])
    assert u["gap"] < 0 < row["oracle_gap"]  # uniform weights lose to the best static mixture
    assert r["policies"]["uniform"]["gap_positive"] == 0 and r["static_mfbo"] is None
    assert r["determinism"]["identical"] and r["determinism"]["rerun_regret"] == u["regret"]
    assert "--no-static" in r["command"] and (tmp_path / "phases.png").stat().st_size > 0
    assert (tmp_path / "campaigns" / "phased" / "uniform" / "seed0" / "summary.json").exists()
