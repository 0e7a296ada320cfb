"""benchmarks/many_domains.py: the per-policy tail (p90 over seeds) next to the median in its table and plot."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from many_domains import add_p90, mfbo_max_runs, plot_finals  # noqa: E402


def test_p90_is_per_backend_and_policy_and_shown(tmp_path):
    rows = [{"backend": "k64", "policy": "mfbo", "n_seeds": 10, "regret_median": 0.025, "regret_q25": 0.02,
             "regret_q75": 0.03},
            {"backend": "k64", "policy": "uniform", "n_seeds": 1, "regret_median": 0.046, "regret_q25": 0.046,
             "regret_q75": 0.046},
            {"backend": "k32", "policy": "mfbo", "n_seeds": 0, "regret_median": None, "regret_q25": None,
             "regret_q75": None}]
    tail = [0.02] * 9 + [0.344]  # one seed far off, as K = 64 seed 3
    camps = [{"backend": "k64", "policy": "mfbo", "regret": r} for r in tail] + \
        [{"backend": "k64", "policy": "uniform", "regret": 0.046}, {"backend": "k32", "policy": "mfbo", "crash": "x"}]
    add_p90(rows, camps)
    assert rows[0]["regret_p90"] == pytest.approx(np.quantile(tail, 0.9)) and rows[0]["regret_p90"] > 0.046
    assert rows[1]["regret_p90"] == pytest.approx(0.046) and rows[2]["regret_p90"] is None
    plot_finals(rows, tmp_path / "final.png")
    assert (tmp_path / "final.png").stat().st_size > 10_000


def test_mfbo_run_cap_is_its_design_plus_the_decisions():
    assert mfbo_max_runs(64, 0.5, 10) == 140 and mfbo_max_runs(32, 0.5, 10) == 110


def test_final_regrets_read_every_finished_campaign_not_only_this_invocations(tmp_path):
    from many_domains import final_regrets

    from bomix.bench.sweep import grid

    jobs = grid(tmp_path, {"synthetic-k3": ["backend=synthetic"]}, {"uniform": ["policy=uniform"]}, range(3), 1.0)
    for j, regret in zip(jobs[:2], (0.1, 0.2)):  # two finished earlier (resumed benchmark), one never run
        Path(j.directory).mkdir(parents=True)
        (Path(j.directory) / "summary.json").write_text(f'{{"regret": {regret}}}')
    got = final_regrets(jobs)
    assert [(c["backend"], c["policy"], c["seed"], c["regret"]) for c in got] == \
        [("synthetic-k3", "uniform", "0", 0.1), ("synthetic-k3", "uniform", "1", 0.2)]
