"""Loud fallbacks: a law policy that cannot run its design or fit its law says so (stderr + summary.json)."""

from __future__ import annotations

import json
import logging

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.laws import DMLPolicy, RegMixPolicy


def test_a_design_that_does_not_fit_the_budget_is_a_reported_fallback(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bomix.policies"):
        s = run_campaign(SyntheticBackend(k=3, noise=0.0, seed=1), DMLPolicy(n_mixtures=4, n_starts=16),
                         budget=1e-6, seed=0, directory=tmp_path)
    reason = s["policy_info"]["fallback"]
    assert "dml design needs 12 runs" in reason and "recommending the centre" in reason
    assert any(r.levelno == logging.WARNING and "WARNING" in r.getMessage() and "dml design" in r.getMessage()
               for r in caplog.records)
    assert json.loads((tmp_path / "summary.json").read_text())["policy_info"]["fallback"] == reason
    assert s["n_runs"] == 0 and s["recommendation"] is not None


def test_a_design_that_runs_reports_no_fallback(tmp_path):
    s = run_campaign(SyntheticBackend(k=3, noise=0.0, seed=1), RegMixPolicy(n_runs=8, n_samples=2000, top_k=64),
                     budget=1.0, seed=0, directory=tmp_path)
    assert "fallback" not in s["policy_info"] and s["n_runs"] == 8


def test_the_command_line_prints_a_law_fallback_on_stderr(tmp_path):
    """What a user of `bomix run` sees: the WARNING line on stderr, the reason in summary.json."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-m", "bomix.cli", "run", "policy=dml", "budget=1e-6", "policy.n_mixtures=4",
                          "progress=false", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, cwd=root,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stderr.splitlines() if "dml design needs" in x)
    assert "WARNING" in line and "recommending the centre" in line
    assert "dml design needs" in json.loads((tmp_path / "summary.json").read_text())["policy_info"]["fallback"]
