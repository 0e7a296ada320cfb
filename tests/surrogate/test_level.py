"""The scaling-law extrapolation of a mixture's level to the target (bomix.surrogate.level)."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.surrogate.level import LevelPrior, extrapolate, level_points

RATIOS = np.log([1000.0, 24.0])  # 1M -> 1B parameters, 1k -> 24k steps
TARGET = np.array([1.0, 1.0])


def chinchilla(st: np.ndarray) -> np.ndarray:
    """Hoffmann et al.'s form in the GP's coordinates: E + A N^-0.34 + B D^-0.28."""
    return 1.7 + 3.0 * np.exp(-0.34 * RATIOS[0] * st[:, 0]) + 2.0 * np.exp(-0.28 * RATIOS[1] * st[:, 1])


def _predict(st) -> tuple[float, float]:
    st = np.array(st, dtype=float)
    return extrapolate(st, chinchilla(st), np.full(len(st), 0.02 ** 2), TARGET, RATIOS)


def test_more_rungs_narrow_the_prediction_and_it_covers_the_truth():
    truth = float(chinchilla(TARGET[None])[0])
    one = _predict([[0.0, t] for t in np.linspace(0, 0.6, 6)])
    two = _predict([[s, t] for s in (0.0, 0.59) for t in np.linspace(0, 0.6, 6)])
    assert two[1] < 0.5 * one[1]  # a second scale identifies the parameter term
    for mean, sd in (one, two):
        assert abs(truth - mean) < 2 * sd
    assert abs(truth - two[0]) < 0.1


def test_more_compute_never_predicts_worse_than_the_runs():
    st = np.array([[0.0, t] for t in np.linspace(0, 0.6, 6)])
    mean, _ = extrapolate(st, chinchilla(st), np.full(6, 1e-4), TARGET, RATIOS)
    assert mean < chinchilla(st).min()  # A, B >= 0: the target is predicted below every proxy


def test_one_rung_axes_and_determinism():
    st = np.array([[0.0, 0.0], [0.59, 0.0]])
    y = np.array([5.6, 3.7])
    a = extrapolate(st, y, np.full(2, 1e-4), TARGET, np.array([np.log(1000.0), 0.0]))
    b = extrapolate(st, y, np.full(2, 1e-4), TARGET, np.array([np.log(1000.0), 0.0]))
    assert a == b and np.isfinite(a).all() and a[1] > 0


def test_level_points_thin_each_scale_and_keep_its_last_step():
    st = np.array([[0.0, t] for t in np.linspace(0, 1, 30)] + [[0.5, 0.2], [0.5, 0.2]])
    pts = level_points(st, per_scale=4)
    assert len(pts) == 5 and [0.0, 1.0] in pts.tolist() and [0.5, 0.2] in pts.tolist()


def test_prior_is_checked():
    with pytest.raises(ValueError, match="exponents"):
        LevelPrior(exponents=(0.5, 0.1))
    with pytest.raises(ValueError, match="relative_scale"):
        LevelPrior(relative_scale=0.0)
