import pytest

from bomix.config import fingerprint, instantiate
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy


def test_instantiate_drops_name_and_builds():
    pol = instantiate({"name": "random", "_target_": "bomix.policies.heuristics.RandomPolicy", "alpha": 2.0}, "policy")
    assert isinstance(pol, RandomPolicy) and pol.alpha == 2.0


def test_instantiate_errors_are_one_line():
    with pytest.raises(BomixError, match="no _target_"):
        instantiate({"name": "x"}, "policy")
    with pytest.raises(BomixError, match="not allowed"):
        instantiate({"_target_": "os.system", "command": "true"}, "policy")
    with pytest.raises(BomixError, match="bad policy argument"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy", "nonsense": 1}, "policy")
    with pytest.raises(BomixError, match="alpha must be > 0"):
        instantiate({"_target_": "bomix.policies.heuristics.RandomPolicy", "alpha": -1}, "policy")


def test_allow_list_env(monkeypatch):
    monkeypatch.setenv("BOMIX_ALLOW_TARGETS", "collections.")
    assert instantiate({"_target_": "collections.OrderedDict"}, "policy") == {}


def test_fingerprint_ignores_budget_and_executor():
    a = fingerprint({"budget": 1, "seed": 0, "executor": {"name": "inline"}, "policy": {"name": "random"}})
    b = fingerprint({"budget": 9, "seed": 0, "executor": {"name": "process"}, "policy": {"name": "random"}})
    assert a == b
    assert fingerprint({"seed": 1}) != fingerprint({"seed": 0})
