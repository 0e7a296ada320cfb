"""The README's Reports commands, run verbatim in a fresh folder on stand-ins for the Quickstart's two demo campaigns
(small synthetic campaigns at the same paths; the demos themselves take minutes): ``bomix report`` writes its page,
``bomix dashboard`` serves it until Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from report_fixtures import run

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def reports_commands() -> list[str]:
    """The commands of the README's "Reports" section (its fenced shell block), comments dropped."""
    section = (ROOT / "README.md").read_text().split("\n### Reports", 1)[1].split("\n#", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.split(" #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def _argv(cmd: str) -> list[str]:
    argv = shlex.split(cmd)
    assert argv[0] == "bomix"
    return [str(BIN / "bomix"), *argv[1:]]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a closed one's TIME_WAIT is fine
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not (BIN / "bomix").exists(), reason="needs the bomix command")
def test_readme_report_commands_work_verbatim(tmp_path):
    report, dashboard = reports_commands()
    assert report == "bomix report campaigns/demo campaigns/demo-regmix --out report.html"
    assert dashboard == "bomix dashboard campaigns/demo"
    run(tmp_path / "campaigns" / "demo")
    run(tmp_path / "campaigns" / "demo-regmix", "random", budget=2.0)
    p = subprocess.run(_argv(report), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["campaigns"] == 2 and (tmp_path / "report.html").stat().st_size > 4_000_000
    if not _port_free(8765):
        pytest.skip("port 8765 (the dashboard's default) is in use here")
    err = (tmp_path / "dashboard.stderr").open("w+")
    # the child starts with Ctrl-C's default action whatever this test process inherited (a parent that ignores
    # SIGINT, as background jobs do, passes that on: bomix would rightly keep ignoring it); faulthandler prints
    # the threads' stacks on SIGABRT, for the message if it does not stop
    proc = subprocess.Popen(_argv(dashboard), cwd=tmp_path, env=dict(ENV, PYTHONFAULTHANDLER="1"),
                            stdout=subprocess.PIPE, stderr=err, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stdout.readline()
        assert line.strip() == "bomix dashboard: serving http://127.0.0.1:8765/ (Ctrl-C stops)", _read(err)
        with urllib.request.urlopen("http://127.0.0.1:8765/state.json", timeout=60) as r:
            assert len(json.loads(r.read())["figures"]) == 4
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            assert proc.wait(timeout=60) == 0, _read(err)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            pytest.fail(f"bomix dashboard did not stop within 60 s of Ctrl-C; its threads:\n{_read(err)}")
    finally:
        proc.kill()
        proc.wait()
        err.close()


def _read(f) -> str:
    f.flush()
    f.seek(0)
    return f.read()[-6000:]
