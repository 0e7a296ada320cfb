"""bomix.extras: a missing optional package is one line naming the pip extra, and a distinct error type."""

from __future__ import annotations

import sys

import pytest

from bomix.errors import BomixError
from bomix.extras import MissingExtra, require


def test_require_raises_a_bomix_error_that_fallback_handlers_can_tell_apart(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(MissingExtra) as info:
        require("lightgbm", "lightgbm", "policy=regmix")
    assert isinstance(info.value, BomixError)
    assert str(info.value) == "policy=regmix needs lightgbm: pip install 'bomix[lightgbm]'"


def test_require_returns_the_module():
    assert require("json", "none", "x").__name__ == "json"
