"""Small real campaigns for the report tests: a sweep-like folder of three finished campaigns, made once per
worker (about 2 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import run


@pytest.fixture(scope="session")
def sweep(tmp_path_factory) -> Path:
    """``sweep/{hb,random,pred}``: hyperband (31 runs at 4 fidelities), random (3 runs), predicting random (2)."""
    root = tmp_path_factory.mktemp("sweep")
    run(root / "hb")
    run(root / "random", "random", budget=3.0)
    run(root / "pred", "predicting", budget=2.0)
    return root
