"""A campaign directory whose store is empty or corrupt is refused, never silently restarted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy

ROOT = Path(__file__).resolve().parents[2]


def test_zero_byte_store_is_refused_and_summary_kept_unless_forced(tmp_path):
    run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path)
    summary = (tmp_path / "summary.json").read_text()
    (tmp_path / "store.sqlite").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'store.sqlite'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(BomixError, match=r"empty \(0 bytes\).*force=true"):
        run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path)
    assert (tmp_path / "summary.json").read_text() == summary
    assert (tmp_path / "store.sqlite").stat().st_size == 0
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path, force=True)
    assert s["n_runs"] == 2 and len(list(tmp_path.glob("store.sqlite.bad-*"))) == 1


def test_cli_refuses_a_zero_byte_store_in_one_line(tmp_path):
    (tmp_path / "store.sqlite").write_bytes(b"")
    (tmp_path / "summary.json").write_text('{"keep": true}\n')
    out = subprocess.run([sys.executable, "-m", "bomix.cli", "run", "budget=2", "progress=false",
                          f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=300)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a bomix store (the file is empty (0 bytes))" in lines[0], out.stderr
    assert (tmp_path / "summary.json").read_text() == '{"keep": true}\n'
