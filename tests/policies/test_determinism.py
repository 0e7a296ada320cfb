"""Same config and seed -> the identical campaign (specs, results, recommendations), for every policy.

Each conf/policy/*.yaml that runs on the synthetic backend is run twice (small sizes, a few runs) and the
two stores are compared exactly. Policies that do not apply to the synthetic problem (a one-line
BomixError) are skipped with their reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.config import instantiate
from bomix.errors import BomixError
from bomix.store import Store

CONF = Path(__file__).resolve().parents[2] / "conf" / "policy"
POLICIES = sorted(p.stem for p in CONF.glob("*.yaml"))
# smoke sizes (BoTorch's SMOKE_TEST habit) for the model-based policies; keys a policy lacks are not passed
# (gp / search: changes applied onto each BO policy's own preset)
SMALL = {"search": {"raw_samples": 16, "starts": 2, "iters": 3}, "gp": {"maxiter": 15}, "max_obs": 40,
         "max_per_run": 2, "num_fantasies": 2, "target_set": 8, "candidate_set": 16, "num_mv_samples": 3, "restarts": 1,
         "mc_samples": 16}
N_INIT = {"mfbo": 4, "mfkg": 3, "mfmes": 3, "sfbo": 2, "mfms_ei": 3}


def _policy(name: str):
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    if name in N_INIT:
        import importlib
        import inspect

        mod, cls = cfg["_target_"].rsplit(".", 1)
        klass = getattr(importlib.import_module(mod), cls)
        accepted = set()
        for c in klass.__mro__:
            if "__init__" in vars(c):
                accepted |= set(inspect.signature(c.__init__).parameters)
        cfg.update({k: v for k, v in SMALL.items() if k in accepted})
        cfg["n_init"] = N_INIT[name]
    return instantiate(cfg, "policy")


def _campaign(name: str, directory: Path) -> dict[str, pd.DataFrame]:
    torch.manual_seed(12345 + len(str(directory)))  # a different global state each time: must not matter
    np.random.seed(len(str(directory)))
    run_campaign(SyntheticBackend(k=3, seed=0, noise=0.01), _policy(name), budget=2.5, seed=3,
                 directory=directory, batch_size=2, max_runs=7)
    tables = Store(directory).to_pandas()
    out = {}
    for key in ("runs", "curves", "recommendations"):
        df = tables[key].drop(columns=[c for c in tables[key].columns
                                       if "time" in c or c.endswith("_at") or c == "created"])
        out[key] = df.reset_index(drop=True)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", POLICIES)
def test_same_config_and_seed_give_the_same_campaign(name, tmp_path):
    try:
        a = _campaign(name, tmp_path / "a")
    except BomixError as exc:
        pytest.skip(f"{name} does not apply to the synthetic backend: {exc}")
    b = _campaign(name, tmp_path / "bb")
    assert len(a["recommendations"]) >= 1
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True, obj=f"{name} {key}")
