"""`bomix run policy=<online method> backend=trainer problem=demo_cpu` end to end at tiny sizes: one
method per kind of signal (odm: train losses; doremi: a frozen reference model; doge: gradient dots)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bomix.store import Store

from .conftest import TINY_LADDER

ROOT = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")

#: policy -> (runs it makes, extra overrides, the signal its controller lives on)
CASES = {
    "odm": (1, ["+policy.controller.params.warmup=3"], None),
    "doremi": (2, [], "reference"),
    "doge": (1, [], "grads"),
}


def ladder_overrides() -> list[str]:
    shapes = ",".join(f"{k}:{{{','.join(f'{a}:{b}' for a, b in v.items())}}}" for k, v in TINY_LADDER.items())
    return [f"backend.ladder={{{shapes}}}", "backend.scales=null"]


@pytest.mark.slow  # ~10 s of imports per subprocess, ~30 s on a loaded 2-core machine
@pytest.mark.parametrize("policy", sorted(CASES))
def test_bomix_run_online_method_on_the_trainer(tiny_data, tmp_path, policy):
    n_runs, extra, signal = CASES[policy]
    args = [sys.executable, "-m", "bomix.cli", "run", f"policy={policy}", "backend=trainer", "problem=demo_cpu",
            f"backend.data_dir={tiny_data}", *ladder_overrides(), "backend.max_steps=20", "backend.min_steps=10",
            "backend.step_grid=[10,20]", "backend.eval_every=10", "backend.batch_size=4", "backend.context=16",
            "backend.eval_sequences=4", "backend.warmup=2", "backend.threads=1", "budget=1", "max_runs=3",
            "progress=false", f"hydra.run.dir={tmp_path / 'camp'}", *extra]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["n_runs"] == n_runs and summary["n_ok"] == n_runs
    rec = np.array(list(summary["recommendation"].values()))
    assert rec.shape == (3,) and rec.sum() == pytest.approx(1.0)
    st = Store(tmp_path / "camp")
    try:
        results, _, spent = st.load(("prose", "code", "digits"))
    finally:
        st.close()
    online = [r for r in results if r.spec.controller is not None]
    assert len(online) == 1
    res = online[0]
    assert res.spec.controller.kind == policy
    assert res.info["controller"]["kind"] == policy and len(res.info["controller"]["average"]) == 3
    np.testing.assert_allclose(rec, res.info["controller"]["average"], atol=1e-9)  # proxy mode: its average
    assert res.info["schedule"]["starts"][0] == 0
    assert {"train_loss:prose", "train_loss:code", "train_loss:digits"} <= set(res.curve.metrics)
    if signal is not None:
        assert res.info["signal_requests"][signal] == 20
        assert res.info["extra_flops"] > 0
    assert (tmp_path / "camp" / "checkpoints" / res.spec.run_id / "state.json").is_file()
    assert spent == pytest.approx(summary["budget_used"])
