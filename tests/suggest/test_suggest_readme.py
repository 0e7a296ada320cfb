"""The README's "Logged runs in, mixture out" commands work as written: each line of the section's fenced shell blocks
runs verbatim (``bomix`` = this environment's, or its ``main`` in this process) in a fresh folder that holds the
checkout's ``simulator/``, in order."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bomix.cli import main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
SECTION = "## Logged runs in, mixture out"

pytestmark = pytest.mark.skipif(not (BIN / "bomix").exists(), reason="needs the bomix command")


def section_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return [ln.split(" #", 1)[0].strip() for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", section, re.S)
            for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def bomix(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(cmd)
    assert argv[0] == "bomix", cmd
    p = subprocess.run([str(BIN / "bomix"), *argv[1:]], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=300)
    assert p.returncode == 0, f"{cmd}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "simulator").symlink_to(ROOT / "simulator")
    return tmp_path


def test_the_section_lists_these_commands():
    cmds = section_commands()
    assert len(cmds) == 5 and all(c.startswith("bomix ") for c in cmds), cmds
    assert [c.split()[1] for c in cmds] == ["suggest", "suggest", "run", "export", "suggest"]


def test_regmix_on_the_shipped_runs(folder):
    out = bomix(section_commands()[0], folder).stdout
    assert out.startswith("bomix suggest: 512 runs of simulator/regmix/regmix.csv (long format; 512 at 1M@1000), "
                          "method regmix")
    assert out.splitlines()[2].split()[0] == "pile_cc"  # RegMix's answer is Pile-CC-heavy


def test_mfbo_on_the_shipped_runs(folder):  # mfbo's hyperparameter fit on 512 runs: about 6 CPU-s
    out = bomix(section_commands()[1], folder).stdout.splitlines()
    assert out[0].endswith("method mfbo, seed 0") and out[2].split()[0] == "pile_cc"
    assert any(ln.startswith("predicted pile_cc at 1M@1000: ") and " +- " in ln for ln in out)
    assert any(ln.startswith("trust region at 1M@1000: ") for ln in out)


def test_an_exported_campaign_gives_its_recommendation(folder, monkeypatch, capsys):
    """The campaign runs as a command; export and suggest run in this process (the same argv, no second import)."""
    run, export, suggest = section_commands()[2:]
    campaign = json.loads(bomix(run, folder).stdout.strip().splitlines()[-1])["recommendation"]
    monkeypatch.chdir(folder)
    assert main(shlex.split(export)[1:]) == 0
    capsys.readouterr()
    assert main(shlex.split(suggest)[1:]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = dict(ln.split() for ln in lines[2:2 + len(campaign)])  # "  d1  0.265", largest first
    assert list(shown) == sorted(campaign, key=campaign.get, reverse=True)
    assert {d: float(w) for d, w in shown.items()} == {d: round(w, 3) for d, w in campaign.items()}
