"""Running ``python -m bomix.cli`` from tests, and the check every refused ``bomix run`` passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def bomix(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
          **kw) -> subprocess.CompletedProcess:
    """``python -m bomix.cli ARGS`` in ``cwd`` (default: the repository), output captured."""
    return subprocess.run([sys.executable, "-m", "bomix.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env or ENV, timeout=timeout, **kw)


def assert_run_refused(tmp_path: Path, args: list[str], message: str) -> None:
    """``bomix run ARGS`` into a new directory exits 2 with one ``bomix: error:`` line holding ``message``, no
    traceback, and writes nothing (no campaign directory, no store)."""
    camp = tmp_path / "new" / "campaign"
    quiet = [] if any(a.startswith("progress=") for a in args) else ["progress=false"]
    out = bomix("run", *args, *quiet, f"hydra.run.dir={camp}")
    assert out.returncode == 2, out.stderr
    assert not (tmp_path / "new").exists()
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bomix: error:") and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
