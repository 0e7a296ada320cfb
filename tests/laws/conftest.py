"""Fixtures for the law tests: build logged-run tables from a known law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_table(W: np.ndarray, metrics: dict[str, np.ndarray], steps=None, params=None, domains=None,
               run_ids=None) -> pd.DataFrame:
    W = np.asarray(W, dtype=float)
    n, k = W.shape
    domains = domains or [f"d{i}" for i in range(k)]
    t = pd.DataFrame({
        "run_id": run_ids if run_ids is not None else [f"r{i}" for i in range(n)],
        "scale": "s",
        "params": np.broadcast_to(np.asarray(1e6 if params is None else params, dtype=float), (n,)),
        "step": np.broadcast_to(np.asarray(1000 if steps is None else steps), (n,)).astype(int),
    })
    for j, d in enumerate(domains):
        t[f"w:{d}"] = W[:, j]
    for m, v in metrics.items():
        t[f"m:{m}"] = np.asarray(v, dtype=float)
    return t


@pytest.fixture
def table_of():
    """``table_of(W, metrics, steps=None, params=None)`` -> a logged-run long-format table."""
    return make_table
