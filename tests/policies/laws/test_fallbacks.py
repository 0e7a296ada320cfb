"""Loud fallbacks: a law policy that cannot run its design or fit its law says so (stderr + summary.json)."""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.extras import MissingExtra
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


def _without(tmp_path, module: str) -> dict:
    """An environment whose interpreter sees ``module`` as not installed (a sitecustomize sets it to None)."""
    import os

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"import sys\nsys.modules[{module!r}] = None\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=path)


def test_regmix_without_lightgbm_fails_in_one_line_before_the_first_run(tmp_path):
    """Issue 26: without the extra, `bomix run policy=regmix` used to run its whole design and recommend the
    centre (exit 0). Now: one line naming the pip extra, exit 2, nothing written."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out_dir = tmp_path / "camp"
    out = subprocess.run([sys.executable, "-m", "bomix.cli", "run", "policy=regmix", "policy.n_runs=8",
                          "progress=false", f"hydra.run.dir={out_dir}"], capture_output=True, text=True, cwd=root,
                         env=_without(tmp_path, "lightgbm"), timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'bomix[lightgbm]'" in lines[0], out.stderr
    assert not out_dir.exists()


def test_a_missing_extra_is_never_a_fallback(tmp_path, monkeypatch):
    """bind refuses a regmix without lightgbm; should the import fail later anyway, recommend raises
    instead of answering the centre."""
    backend = SyntheticBackend(k=3, noise=0.0, seed=1)
    pol = RegMixPolicy(n_runs=8, n_samples=2000, top_k=64)
    run_campaign(backend, pol, budget=1.0, seed=0, directory=tmp_path)
    fresh = RegMixPolicy(n_runs=8, n_samples=2000, top_k=64)
    fresh.bind(pol.problem, 0)

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"^policy=regmix needs lightgbm: pip install 'bomix\[lightgbm\]'$"):
        RegMixPolicy(n_runs=8).bind(pol.problem, 0)
    with pytest.raises(MissingExtra):
        fresh.recommend(_history(tmp_path, pol, 1.0))
    diag = fresh.diagnostics()
    assert diag["fallbacks"] == 0 and diag["fallback_reasons"] == {} and "fallback" not in diag


def _history(directory, pol, budget):
    from bomix.history import History
    from bomix.store import Store

    store = Store(directory)
    try:
        results, pending, spent = store.load(pol.space.domains)
    finally:
        store.close()
    return History(pol.space, pol.problem.objective, results, pending, budget, spent)


def test_a_law_that_cannot_be_fitted_is_counted_said_once_and_refitted_on_resume(tmp_path, monkeypatch, caplog):
    """Partial-design fit failures: counted, DEBUG only; the final one: counted, one WARNING with the reason,
    in summary.json's policy_info. Nothing of it persists: a new process (a resumed campaign) refits."""
    def singular(self, table):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(RegMixPolicy, "fit_law", singular)
    pol = RegMixPolicy(n_runs=8, n_samples=2000, top_k=64, kind="linear")
    with caplog.at_level(logging.DEBUG, logger="bomix.policies"):
        s = run_campaign(SyntheticBackend(k=3, noise=0.0, seed=1), pol, budget=1.0, seed=0, directory=tmp_path)
    info = json.loads((tmp_path / "summary.json").read_text())["policy_info"]
    assert info == s["policy_info"]
    assert info["fallback_reasons"]["law fit failed (LinAlgError)"] == 1
    assert info["fallback_reasons"]["partial fit failed (LinAlgError)"] >= 1
    assert info["fallbacks"] == sum(info["fallback_reasons"].values())
    assert "Singular matrix" in info["fallback"] and "recommending the centre" in info["fallback"]
    loud = [r for r in caplog.records if r.levelno > logging.DEBUG and r.name.startswith("bomix.policies")]
    assert len(loud) == 1 and loud[0].levelno == logging.WARNING and "Singular matrix" in loud[0].getMessage()
    assert s["recommendation"] == pytest.approx(dict.fromkeys(s["recommendation"], 1 / 3))

    monkeypatch.undo()  # the fit works again: a fresh policy (a resumed campaign) refits, nothing cached
    fresh = RegMixPolicy(n_runs=8, n_samples=2000, top_k=64, kind="linear")
    fresh.bind(pol.problem, 0)
    rec = fresh.recommend(_history(tmp_path, pol, 1.0))
    assert not np.allclose(rec.weights, pol.space.center().weights)
    diag = fresh.diagnostics()
    assert diag["fallbacks"] == 0 and diag["fallback_reasons"] == {} and "fallback" not in diag
