"""Fronts and hypervolume regret on hand-made fronts (exact numbers) and on the synthetic simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.pareto import REF_MARGIN, front_hypervolume, hv_regret, hypervolume, non_dominated


def test_non_dominated_marks_exactly_the_front():
    Y = np.array([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0], [3.0, 3.0], [2.0, 2.0], [5.0, 5.0]])
    assert non_dominated(Y).tolist() == [True, True, True, False, False, False]  # a duplicate counts once


def test_non_dominated_sweep_matches_botorch_on_many_points():
    rng = np.random.default_rng(0)
    Y = rng.random((5000, 3))
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True) + 0.01 * rng.random((5000, 3))  # a curved front
    from botorch.utils.multi_objective.pareto import is_non_dominated
    import torch

    ref = is_non_dominated(-torch.tensor(Y), deduplicate=True).numpy()
    got = non_dominated(Y)
    assert got.sum() > 20 and (got == ref).all()


def test_hypervolume_of_a_staircase_is_exact():
    # minimisation, ref (4, 4): boxes [1,4]x[3,4] + [2,4]x[2,3] + [3,4]x[1,2] = 3 + 2 + 1
    Y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(Y, [4.0, 4.0]) == pytest.approx(6.0)
    assert hypervolume(np.array([[5.0, 0.0]]), [4.0, 4.0]) == pytest.approx(0.0)  # beyond the reference: nothing


def test_hv_regret_on_a_hand_made_front():
    # true front (0, 1), (0.5, 0.5), (1, 0): ideal (0, 0), span (1, 1), reference (1.1, 1.1)
    front = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    assert REF_MARGIN == 0.1
    # boxes: x in [0, .5): y from 1 to 1.1 -> .5 * .1; x in [.5, 1): y from .5 -> .5 * .6;
    # x in [1, 1.1]: y from 0 -> .1 * 1.1
    hv_true = 0.5 * 0.1 + 0.5 * 0.6 + 0.1 * 1.1
    assert front_hypervolume(front) == pytest.approx(hv_true)
    # a set holding only the middle point: x in [.5, 1.1] x y in [.5, 1.1] = .6 * .6
    out = hv_regret(front, np.array([[0.5, 0.5], [2.0, 2.0]]))
    assert out["hv_true"] == pytest.approx(hv_true)
    assert out["hv"] == pytest.approx(0.36)
    assert out["hv_regret"] == pytest.approx(hv_true - 0.36)
    assert out["hv_regret_frac"] == pytest.approx((hv_true - 0.36) / hv_true)
    # the front itself has no regret; the scale of the objectives does not matter
    assert hv_regret(front, front)["hv_regret"] == pytest.approx(0.0)
    scaled = hv_regret(front * [10.0, 0.01] + [3.0, -1.0], np.array([[0.5, 0.5]]) * [10.0, 0.01] + [3.0, -1.0])
    assert scaled["hv_regret"] == pytest.approx(out["hv_regret"])


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(BomixError, match="non-empty"):
        hv_regret(np.zeros((0, 2)), np.zeros((1, 2)))
    with pytest.raises(BomixError, match=r"\(n, M\)"):
        non_dominated(np.zeros(3))


def test_true_front_of_the_synthetic_tasks_is_a_trade_off():
    from bomix.backends.synthetic import SyntheticBackend
    from bomix.pareto import true_front, true_objectives
    from bomix.tradeoff import parse_objectives

    b = SyntheticBackend(tasks=3, seed=0)
    objs = parse_objectives([{"name": "code", "maximize": "task:0"}, {"name": "web", "metric": "task:1"}], b.metrics)
    W, Y = true_front(b, objs, b.space, n=500)
    assert len(W) >= 5 and non_dominated(Y).all()
    np.testing.assert_allclose(Y, true_objectives(b, objs, W, b.space.target))
    # the ends of the front are each objective's optimum: the objectives conflict
    for j, o in enumerate(objs):
        assert Y[:, j].min() == pytest.approx(b.optimum(o)[1], abs=1e-9)
    assert not np.allclose(W[np.argmin(Y[:, 0])], W[np.argmin(Y[:, 1])], atol=0.05)
    # uniform weights are not on the front: a positive regret
    u = true_objectives(b, objs, b.space.center().weights[None], b.space.target)
    assert hv_regret(Y, u)["hv_regret"] > 0.1
