import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import Curve


def test_kinds():
    row = {"a": 1.0, "b": 3.0, "acc": 0.7}
    assert Objective.metric("a")(row) == 1.0
    assert Objective.mean(["a", "b"])(row) == 2.0
    assert Objective.weighted({"a": 3, "b": 1})(row) == pytest.approx(1.5)
    assert Objective.negated("acc")(row) == -0.7
    assert np.isnan(Objective.metric("zzz")(row))


def test_from_config_and_errors():
    assert Objective.from_config({"mean": ["a", "b"]}).metrics == ["a", "b"]
    assert Objective.from_config({"maximize": "acc"}).sign == -1
    assert Objective.from_config(None, default=Objective.metric("a")).metrics == ["a"]
    with pytest.raises(BomixError, match="unknown metric"):
        Objective.from_config("nope", available=["a"])
    with pytest.raises(BomixError, match="exactly one"):
        Objective.from_config({"mean": ["a"], "metric": "b"})
    with pytest.raises(BomixError, match="no objective"):
        Objective.from_config(None)


def test_on_curve():
    c = Curve([1, 2], {"a": [2.0, 1.0], "b": [4.0, 3.0]})
    np.testing.assert_allclose(Objective.mean(["a", "b"]).on_curve(c), [3.0, 2.0])
