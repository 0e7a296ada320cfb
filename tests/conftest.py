"""Shared fixtures: a small synthetic backend and its space."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bomix.backends.synthetic import SyntheticBackend  # noqa: E402


@pytest.fixture
def synthetic() -> SyntheticBackend:
    return SyntheticBackend(k=4, noise=0.0, seed=0)


@pytest.fixture
def space(synthetic):
    return synthetic.space
