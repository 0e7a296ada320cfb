"""benchmarks/seed_stats.py: the spread over seeds every benchmark reports."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from seed_stats import SPREAD_KEYS, spread  # noqa: E402


def test_spread_is_median_quartiles_and_p90_with_linear_interpolation():
    s = spread([5, 1, 4, 2, 3, 6, 7, 8, 9, 10])  # order does not matter
    assert tuple(s) == SPREAD_KEYS
    assert s == pytest.approx({"median": 5.5, "q25": 3.25, "q75": 7.75, "p90": 9.1})
    assert all(isinstance(v, float) for v in s.values())
    assert spread(np.array([0.2]))["p90"] == 0.2
