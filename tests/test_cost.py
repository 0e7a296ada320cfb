import pytest

from bomix.cost import FlopsCost, TableCost
from bomix.errors import BomixError
from bomix.space import Scale, Space


def _space():
    return Space(["a", "b"], [Scale("s", 1e6), Scale("l", 1e8)], 100, 1000, tokens_per_step=1000)


def test_flops_cost_in_target_equivalents():
    c = FlopsCost(_space())
    assert c("l", 1000) == pytest.approx(1.0)
    assert c("s", 1000) == pytest.approx(0.01)
    assert c("l", 1000, start=500) == pytest.approx(0.5)
    assert c.raw("l", 1000) == pytest.approx(6 * 1e8 * 1000 * 1000)


def test_table_cost():
    c = TableCost(_space(), {"s": 2.0, "l": 10.0})
    assert c("s", 500) == pytest.approx(0.1)
    with pytest.raises(BomixError, match="lacks"):
        TableCost(_space(), {"s": 1.0})
