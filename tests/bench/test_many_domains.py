"""benchmarks/many_domains.py: the per-policy tail (p90 over seeds, from bomix.bench.tables.finals) on its plot."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from many_domains import mfbo_max_runs, plot_finals  # noqa: E402


def test_the_plot_marks_each_policys_p90(tmp_path):
    rows = [{"backend": "k64", "policy": "mfbo", "n_seeds": 10, "regret_median": 0.025, "regret_q25": 0.02,
             "regret_q75": 0.03, "regret_p90": 0.05},
            {"backend": "k64", "policy": "uniform", "n_seeds": 1, "regret_median": 0.046, "regret_q25": 0.046,
             "regret_q75": 0.046, "regret_p90": 0.046},
            {"backend": "k32", "policy": "mfbo", "n_seeds": 0, "regret_median": None, "regret_q25": None,
             "regret_q75": None, "regret_p90": None}]
    plot_finals(rows, tmp_path / "final.png")
    assert (tmp_path / "final.png").stat().st_size > 10_000


def test_mfbo_run_cap_is_its_design_plus_the_decisions():
    assert mfbo_max_runs(64, 0.5, 10) == 140 and mfbo_max_runs(32, 0.5, 10) == 110
