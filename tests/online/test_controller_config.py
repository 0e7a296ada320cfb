"""ControllerConfig validation, RunSpec round-trip and the allowlist registry."""

import json

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.online import CONTROLLERS, ControllerConfig, build_controller
from bomix.runs import RunSpec
from bomix.space import Mixture


def test_runspec_round_trips_controller():
    spec = RunSpec(Mixture([0.5, 0.5]), "20M", 100, controller={"kind": "odm", "every": 2, "params": {"alpha": 0.5}})
    assert isinstance(spec.controller, ControllerConfig)
    back = RunSpec.from_dict(json.loads(spec.to_json()))
    assert back.controller == spec.controller and back.controller.params["alpha"] == 0.5
    old = spec.to_dict()
    old.pop("controller")  # a spec stored before controllers existed
    assert RunSpec.from_dict(old).controller is None


@pytest.mark.parametrize("bad, match", [
    ({"every": 1}, "no 'kind'"),
    ({"kind": "odm", "every": 0}, "every"),
    ({"kind": "odm", "apply": "both"}, "apply"),
    ({"kind": "odm", "colour": 1}, "unknown controller key"),
    ({"kind": "odm", "reference": {"source": "file"}}, "source"),
    ({"kind": "odm", "reference": {"source": "curve", "steps": [1, 2], "losses": [[1.0]]}}, "losses"),
    ({"kind": "odm", "params": {"f": object()}}, "JSON"),
])
def test_bad_configs_are_one_line_errors(bad, match):
    with pytest.raises(BomixError, match=match):
        ControllerConfig.from_dict(bad)


def test_registry_is_an_allowlist():
    with pytest.raises(BomixError, match="unknown controller kind"):
        build_controller({"kind": "os:system"}, ["a", "b"], 0, initial=[0.5, 0.5], steps=10)
    with pytest.raises(BomixError, match="unknown param"):
        build_controller({"kind": "odm", "params": {"alpah": 0.1}}, ["a", "b"], 0, initial=[0.5, 0.5], steps=10)
    assert "odm" in CONTROLLERS
    with pytest.raises(BomixError, match="initial mixture"):
        build_controller({"kind": "odm"}, ["a", "b"], 0, initial=[0.7, 0.7], steps=10)
