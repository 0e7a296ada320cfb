"""Fixtures: a logged-run table generated from the synthetic backend (known truth) and simulators built from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bomix.backends.replay.build import build
from bomix.backends.synthetic import SyntheticBackend
from bomix.history import History
from bomix.runs import RunSpec

#: evaluated steps kept in the generated table (a coarse learning curve)
KEEP_STEPS = (2500, 5000, 10000, 20000)
#: runs per scale (many cheap, few expensive: like real logs)
RUNS = {"20M": 40, "150M": 25, "1B": 15}


def synthetic_table(truth: SyntheticBackend, seed: int = 1) -> pd.DataFrame:
    """Logged-run table (``History.table()`` rows) of Dirichlet(1) mixtures at three scales."""
    rng = np.random.default_rng(seed)
    hist = History(truth.space, truth.default_objective)
    for scale, n in RUNS.items():
        for i, w in enumerate(rng.dirichlet(np.ones(truth.space.k), n)):
            spec = RunSpec(truth.space.mixture(w), scale, truth.space.max_steps, seed=i, run_id=f"{scale}-{i}")
            hist.results.append(truth.run(spec))
    table = hist.table()
    table = table[table["step"].isin(KEEP_STEPS)].reset_index(drop=True)
    table["tokens"] = table["step"] * truth.space.tokens_per_step
    return table


@pytest.fixture(scope="session")
def truth() -> SyntheticBackend:
    return SyntheticBackend(k=4, noise=0.0, seed=0)


@pytest.fixture(scope="session")
def table(truth) -> pd.DataFrame:
    return synthetic_table(truth)


@pytest.fixture(scope="session")
def table_csv(table, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("logs") / "synthetic.csv"
    table.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="session")
def model_dir(table_csv, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("sim") / "model"
    build(table_csv, out, mode="model", objective="loss:target", metrics=["loss:d0", "loss:target"],
          holdout=0.25, max_train=400)
    return str(out)


@pytest.fixture(scope="session")
def pool_dir(table_csv, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("sim") / "pool"
    build(table_csv, out, mode="pool", objective="loss:target")
    return str(out)
