"""`bomix run backend=trainer problem=demo_cpu` over two phases at tiny sizes: each run trains its schedule (the
weights switch at the phase boundary, a fraction of the run's own steps) and the summary is a schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bomix.store import Store

from .test_cli_online import ENV, ROOT, ladder_overrides


@pytest.mark.slow  # ~10 s of imports per subprocess
def test_bomix_run_two_phases_on_the_trainer(tiny_data, tmp_path):
    phases = "problem.phases=[{name:pre,fraction:0.6},{name:anneal,fraction:0.4}]"
    args = [sys.executable, "-m", "bomix.cli", "run", "policy=random", "policy.scale=s", "policy.steps=20",
            "backend=trainer", "problem=demo_cpu", f"backend.data_dir={tiny_data}", *ladder_overrides(),
            "backend.max_steps=20", "backend.min_steps=10", "backend.step_grid=[10,20]", "backend.eval_every=10",
            "backend.batch_size=4", "backend.context=16", "backend.eval_sequences=4", "backend.warmup=2",
            "backend.threads=1", "budget=1", "max_runs=2", "progress=false", f"+{phases}",
            f"hydra.run.dir={tmp_path / 'camp'}"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["n_ok"] == 2 and [p["phase"] for p in summary["schedule"]] == ["pre", "anneal"]
    assert "recommended schedule" in out.stderr and "phase anneal (0.4 of the steps)" in out.stderr
    domains = [f"{p}/{d}" for p in ("pre", "anneal") for d in ("prose", "code", "digits")]
    st = Store(tmp_path / "camp")
    try:
        results, _, _ = st.load(tuple(domains))
    finally:
        st.close()
    for r in results:
        x = r.spec.mixture.weights
        assert x[:3].sum() == pytest.approx(0.6) and x[3:].sum() == pytest.approx(0.4)
        sched = r.info["schedule"]  # what the trainer realised, step by step
        assert sched["starts"] == [0, 12]  # 0.6 x 20 steps
        np.testing.assert_allclose(sched["mixtures"][0], x[:3] / 0.6, atol=1e-9)
        np.testing.assert_allclose(sched["mixtures"][1], x[3:] / 0.4, atol=1e-9)
