"""Outcome constraints: the config syntax, its one-line errors, and the bound each entry becomes."""

import numpy as np
import pytest

from bomix.constraints import parse_constraints
from bomix.errors import BomixError
from bomix.objective import Objective

METRICS = ["loss:d1", "loss:code", "task:0", "task:2"]


def test_each_kind_of_bound():
    obj = Objective.from_config({"weights": {"task:2": 1}, "maximize": ["task:2"], "reference": {"task:2": 0.5}})
    a, b, c, d = parse_constraints([
        {"metric": "loss:d1", "max": 3.2},
        {"metric": "task:0", "min": 0.4},
        {"metric": "loss:code", "max_relative": 0.01, "reference": 3.1},
        {"metric": "task:2", "min_relative": 0.02},  # the reference comes from the objective's
    ], METRICS, obj)
    assert (a.metric, a.bound, a.upper) == ("loss:d1", 3.2, True) and a.label == "loss:d1 <= 3.2"
    assert (b.bound, b.upper) == (0.4, False) and b.label == "task:0 >= 0.4"
    assert c.bound == pytest.approx(3.1 * 1.01) and c.upper
    assert d.bound == pytest.approx(0.5 * 0.98) and not d.upper
    np.testing.assert_allclose(a.slack(np.array([3.0, 3.5])), [0.2, -0.3])
    np.testing.assert_allclose(b.slack(np.array([0.5, 0.3])), [0.1, -0.1])
    # as an objective (lower = more feasible): the bound holds iff its value <= threshold
    for con, values in ((a, [3.0, 3.5]), (b, [0.5, 0.3])):
        o = con.as_objective()
        got = [o({con.metric: v}) <= con.threshold for v in values]
        assert got == [True, False]
    assert parse_constraints(None) == ()
    # a relative bound on a negative metric is measured by the reference's magnitude
    (neg,) = parse_constraints([{"metric": "m", "max_relative": 0.1, "reference": -2.0}])
    assert neg.bound == pytest.approx(-1.8)


@pytest.mark.parametrize("cfg, message", [
    ({"metric": "loss:d1", "max": 3}, "problem.constraints must be a list"),
    ("loss:d1 <= 3", "problem.constraints must be a list"),
    ([3], "problem.constraints[0] must be a mapping"),
    ([{"max": 3}], "needs a metric name"),
    ([{"metric": "nope", "max": 3}], "constrains unknown metric 'nope'"),
    ([{"metric": "loss:d1"}], "needs exactly one of max, min, max_relative, min_relative, got none"),
    ([{"metric": "loss:d1", "max": 3, "min": 1}], "needs exactly one of"),
    ([{"metric": "loss:d1", "max": "x"}], "max must be a number"),
    ([{"metric": "loss:d1", "max": float("inf")}], "max must be finite"),
    ([{"metric": "loss:d1", "max": True}], "max must be a number"),
    ([{"metric": "loss:d1", "max": 3, "reference": 2}], "reference goes with max_relative / min_relative"),
    ([{"metric": "loss:d1", "max_relative": -0.1, "reference": 2}], "must be >= 0"),
    ([{"metric": "loss:d1", "max_relative": 0.01}], "is relative but has no reference value"),
    ([{"metric": "loss:d1", "max_relative": 0.01, "reference": "x"}], "reference must be a number"),
    ([{"metric": "loss:d1", "max": 3, "maxx": 1}], "unknown key(s) ['maxx']"),
])
def test_bad_constraints_are_one_line_errors(cfg, message):
    with pytest.raises(BomixError) as info:
        parse_constraints(cfg, METRICS)
    assert message in str(info.value) and "\n" not in str(info.value)
