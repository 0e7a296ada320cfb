"""problem.objectives / problem.preference: parsing with one-line errors, and the preference's pick."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import ProblemConfig, build_problem
from bomix.errors import BomixError
from bomix.tradeoff import parse_objectives, parse_preference, preferred

METRICS = ["task:0", "task:1", "task:2", "loss:d0"]
TWO = [{"name": "code", "maximize": "task:0"}, {"name": "web", "metric": "task:1"}]


def test_objectives_parse_into_named_objectives():
    objs = parse_objectives(TWO + [{"name": "math", "mean": ["task:2", "loss:d0"], "maximize": ["task:2"]}], METRICS)
    assert [o.name for o in objs] == ["code", "web", "math"]
    assert objs[0]({"task:0": 0.6}) == pytest.approx(-0.6)  # maximised: lower is better
    assert objs[1]({"task:1": 1.4}) == pytest.approx(1.4)
    assert objs[2]({"task:2": 0.5, "loss:d0": 3.0}) == pytest.approx(0.5 * (-0.5) + 0.5 * 3.0)
    assert parse_objectives(None) == ()


@pytest.mark.parametrize("cfg, match", [
    ("task:0", "must be a list"),
    ({"name": "code", "metric": "task:0"}, "must be a list"),
    ([TWO[0]], "needs 2 to 4 objectives, got 1"),
    (TWO * 3, "needs 2 to 4 objectives, got 6"),
    ([TWO[0], "task:1"], r"objectives\[1\] must be a mapping"),
    ([TWO[0], {"metric": "task:1"}], r"objectives\[1\] needs a name"),
    ([TWO[0], {"name": "code", "metric": "task:1"}], "used twice"),
    ([TWO[0], {"name": "web", "metric": "task:9"}], r"objectives\[1\] \(web\): objective uses unknown metric"),
    ([TWO[0], {"name": "web", "metric": "task:1", "typo": 1}], r"\(web\): unknown objective key"),
])
def test_bad_objectives_are_one_line_errors(cfg, match):
    with pytest.raises(BomixError, match=match) as exc:
        parse_objectives(cfg, METRICS)
    assert "\n" not in str(exc.value)


def test_preference_parses_to_normalised_weights():
    objs = parse_objectives(TWO, METRICS)
    assert parse_preference({"code": 0.7, "web": 0.3}, objs) == pytest.approx((0.7, 0.3))
    assert parse_preference({"code": 2}, objs) == pytest.approx((1.0, 0.0))  # left out: weight 0
    assert parse_preference(None, objs) == pytest.approx((0.5, 0.5))
    assert parse_preference(None, ()) == ()


@pytest.mark.parametrize("cfg, objs, match", [
    ({"code": 1}, (), "declare problem.objectives"),
    ([0.7, 0.3], TWO, "must map objective name"),
    ({"cod": 1}, TWO, r"unknown objective\(s\) \['cod'\]"),
    ({"code": -1}, TWO, "must be >= 0"),
    ({"code": "a lot"}, TWO, "must be a number"),
    ({"code": float("inf")}, TWO, "must be finite"),
    ({"code": 0, "web": 0}, TWO, "positive weight"),
])
def test_bad_preferences_are_one_line_errors(cfg, objs, match):
    with pytest.raises(BomixError, match=match) as exc:
        parse_preference(cfg, parse_objectives(objs, METRICS) if objs else ())
    assert "\n" not in str(exc.value)


def test_preferred_follows_the_weights():
    # a front from "good at 0" to "good at 1"
    Y = np.array([[0.0, 1.0], [0.2, 0.5], [0.5, 0.2], [1.0, 0.0]])
    assert preferred(Y, [1.0, 0.0]) == 0
    assert preferred(Y, [0.0, 1.0]) == 3
    assert preferred(Y, [0.5, 0.5]) in (1, 2)
    assert preferred(Y, [0.8, 0.2]) == 1  # max(0.8 * .2, 0.2 * .5) = .16 beats max(0, .2) and max(.4, .04)
    # scale-free: the same pick after an affine change of one objective
    assert preferred(Y * [100.0, 1.0] + [5.0, 0.0], [0.8, 0.2]) == 1
    # a dominated point is never picked over the point dominating it (the augmentation breaks the tie)
    Z = np.array([[0.0, 1.0], [0.0, 0.9], [1.0, 0.0]])
    assert preferred(Z, [1.0, 0.0]) == 1
    with pytest.raises(BomixError, match="objective values"):
        preferred(Y, [1.0])


def test_problem_carries_objectives_and_nothing_changes_without_them():
    b = SyntheticBackend(tasks=3, seed=0)
    p = build_problem(b, ProblemConfig(objectives=TWO, preference={"code": 0.7, "web": 0.3}))
    assert [o.name for o in p.objectives] == ["code", "web"] and p.preference == pytest.approx((0.7, 0.3))
    plain = build_problem(b, ProblemConfig())
    assert plain.objectives == () and plain.preference == ()
    with pytest.raises(BomixError, match="problem.preference weighs"):
        build_problem(b, ProblemConfig(preference={"code": 1}))
