"""Every bad input and every fault of the `bomix` command is one line on stderr (exit 2), nothing written.

Each case runs the real command in a subprocess and checks: exit code 2, exactly one stderr line that
starts with ``bomix: error:``, no traceback, and no file or folder made or changed under the test's
folder (the campaign, study and table the cases point at live there too).

Unwritable places: a path under a regular file works for every user; a read-only folder is a
``chmod 555`` one, except as root (who writes through that), where it is ``/sys/kernel`` (sysfs refuses
to make anything, even to root).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.export import export_campaign
from bomix.lock import CampaignLock
from bomix.policies.heuristics import RandomPolicy
from bomix.study import Study

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
STUDY = ["--domains", "a,b", "--ladder", "s=1e6,l=1e7", "--steps", "100,400", "--objective", "loss",
         "--budget", "2"]
RUN = ["run", "policy=random", "budget=1", "progress=false"]


def bomix(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bomix.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=300)


def snapshot(root: Path) -> dict[str, str | None]:
    """Every path under ``root``: a folder -> None, a file -> the hash of its content. SQLite's read
    index (``-shm``) and an empty write-ahead log (``-wal``), which a reader may make and leave, hold no
    data: they are left out."""
    out = {}
    for p in sorted(root.rglob("*")):
        name = str(p.relative_to(root))
        if name.endswith("-shm") or (name.endswith("-wal") and p.stat().st_size == 0):
            continue
        out[name] = None if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _read_only_dir(base: Path) -> Path | None:
    if os.geteuid() != 0:
        d = base / "read_only"
        d.mkdir()
        d.chmod(0o555)
        return d
    sysfs = Path("/sys/kernel")
    try:
        (sysfs / "bomix-probe").mkdir()
    except OSError:
        return sysfs if sysfs.is_dir() else None
    (sysfs / "bomix-probe").rmdir()
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished campaign, its exported table, a study with a pending run, a running campaign, a file."""
    base = tmp_path_factory.mktemp("world")
    campaign = base / "campaign"
    run_campaign(SyntheticBackend(k=3, seed=0), RandomPolicy(), budget=2, seed=0, directory=campaign)
    table = base / "runs.csv"
    export_campaign(campaign, table)
    running = base / "running"
    shutil.copytree(campaign, running)
    (running / "summary.json").unlink()
    study_dir = base / "study"
    with Study.create(study_dir, domains=["a", "b"], ladder={"s": 1e6, "l": 1e7}, objective="loss",
                      steps=[100, 400], budget=2, policy="random") as study:
        run_id = study.ask().run_id
    (base / "header_only.csv").write_text("step,loss\n")
    (base / "a_file").write_text("keep me\n")
    ro = _read_only_dir(base)
    lock = CampaignLock(running).acquire()  # this (live) process runs it
    yield {"base": base, "campaign": campaign, "table": table, "running": running, "study": study_dir,
           "run_id": run_id, "ro": ro}
    lock.release()
    if ro is not None and base in ro.parents:
        ro.chmod(0o755)


CASES = {
    # 1. unwritable campaign directory / --out
    "run dir under a file": ([*RUN, "hydra.run.dir={base}/a_file/campaign"], "a_file is not a directory (it is a file)"),
    "run dir read-only": ([*RUN, "hydra.run.dir={ro}/campaign"], "choose a writable hydra.run.dir"),
    "sweep dir read-only": (["run", "-m", "policy=random", "budget=1,2", "progress=false", "hydra.sweep.dir={ro}/sw"],
                            "choose a writable hydra.sweep.dir"),
    "export out under a file": (["export", "{campaign}", "--out", "{base}/a_file/runs.csv"], "is a file"),
    "export out read-only": (["export", "{campaign}", "--out", "{ro}/runs.csv"], "choose a writable --out"),
    "export out new folder read-only": (["export", "{campaign}", "--out", "{ro}/new/runs.csv"], "writable --out"),
    "export bad suffix makes no folder": (["export", "{campaign}", "--out", "{base}/new/runs.txt"], ".csv or .parquet"),
    "build out read-only": (["simulator", "build", "{table}", "--mode", "pool", "--out", "{ro}/sim"],
                            "choose a writable --out"),
    "build out under a file": (["simulator", "build", "{table}", "--mode", "pool", "--out", "{base}/a_file/sim"],
                               "a_file is not a directory (it is a file)"),
    # 2. --out an existing file
    "build out is a file": (["simulator", "build", "{table}", "--mode", "pool", "--out", "{base}/a_file"],
                            "is a file"),
    # 3. ask fails before it makes the study directory
    "ask policy path": (["ask", "{base}/new_study", *STUDY, "--policy", "../backend/synthetic"], "../backend/synthetic"),
    "ask negative seed": (["ask", "{base}/new_study", *STUDY, "--seed", "-1"], "--seed: must be an integer >= 0"),
    # 6. a running campaign; a study given to `bomix run`
    "bench running campaign": (["bench", "{running}", "--out", "{base}/bench"], "1 still running"),
    "run on a study": ([*RUN, "hydra.run.dir={study}"], "is a study (made by bomix ask/Study); use bomix ask/tell"),
    # 7. values to refuse
    "synthetic noise -1": ([*RUN, "backend.noise=-1", "hydra.run.dir={base}/new_campaign"],
                           "backend.noise must be a finite number >= 0"),
    "process workers 0": ([*RUN, "executor=process", "executor.workers=0", "hydra.run.dir={base}/new_campaign"],
                          "executor.workers must be >= 1"),
    "build workers 0": (["simulator", "build", "{table}", "--mode", "pool", "--workers", "0", "--out", "{base}/sim"],
                        "--workers must be >= 1"),
    "ask empty domain": (["ask", "{base}/new_study", *STUDY[:1], "a,,b", *STUDY[2:]], "has an empty name"),
    "ask objective bad JSON": (["ask", "{base}/new_study", *STUDY[:7], '{{"maximize": ', *STUDY[8:]],
                               "--objective is not valid JSON"),
    "show negative runs": (["show", "{study}", "--runs", "-5"], "--runs: must be an integer >= 0"),
    "tell wall time nan": (["tell", "{study}", "{run_id}", "--value", "1", "--wall-time", "nan"],
                           "--wall-time: must be a finite number"),
    "tell header-only curve": (["tell", "{study}", "{run_id}", "--curve", "{base}/header_only.csv"], "has no points"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_line_exit_2_nothing_written(world, case):
    args, message = CASES[case]
    if any("{ro}" in a for a in args) and world["ro"] is None:
        pytest.skip("no read-only folder here (root without /sys/kernel)")
    argv = [a.format(**world) for a in args]
    before = snapshot(world["base"])
    p = bomix(*argv)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and len(lines) == 1 and lines[0].startswith("bomix: error:"), p.stderr[-2000:]
    assert message in lines[0], lines[0]
    assert snapshot(world["base"]) == before  # nothing made, nothing changed
    assert (world["base"] / "a_file").read_text() == "keep me\n"


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_output_into_a_closed_pipe_prints_no_traceback(args):
    """`bomix --help | head`: the reader is gone before bomix writes."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "bomix.cli", *args], stdout=w, stderr=subprocess.PIPE, text=True,
                           cwd=ROOT, env=ENV, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 0 and p.stderr == "", p.stderr[-2000:]


def _into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run ``bomix ARGS`` with a stdout whose reader is already gone (``| head`` that has exited)."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "bomix.cli", *args], stdout=w, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, env=ENV, timeout=300)
    finally:
        os.close(w)


def test_help_into_head_prints_no_traceback():
    """The README's reader: `bomix --help | head -1` and `bomix run --help | head -1`, as a shell runs them."""
    for cmd in ("--help", "run --help"):
        p = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m bomix.cli {cmd} | head -1"],
                           capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
        assert p.returncode == 0 and p.stderr == "" and p.stdout.startswith(("usage: bomix", "bomix run:")), p


@pytest.mark.parametrize("what", ["run --help", "show", "run"])
def test_any_command_into_a_closed_pipe_ends_quietly(tmp_path, what):
    """Hydra's help, `bomix show` and the end of `bomix run` (its JSON line) into a closed pipe: exit 0, no
    traceback, no Hydra "Error executing job"; a campaign is stored all the same, and its summary for a
    person still reaches stderr."""
    if what == "show":
        run_campaign(SyntheticBackend(k=3, noise=0.0), RandomPolicy(), budget=2, directory=tmp_path / "c")
        args = ["show", str(tmp_path / "c")]
    else:
        args = what.split() if what != "run" else [*RUN, f"hydra.run.dir={tmp_path / 'c'}"]
    p = _into_closed_pipe(*args)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and "Error executing" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
    if what == "run":
        assert (tmp_path / "c" / "summary.json").is_file() and "stopped: the budget is spent" in p.stderr
    else:
        assert p.stderr == ""


def test_study_create_binds_the_policy_before_it_makes_the_directory(tmp_path):
    """A policy option that does not fit the problem fails in Study.create with nothing made."""
    from bomix.errors import BomixError

    with pytest.raises(BomixError, match="sum to 1.1"):
        Study.create(tmp_path / "study", domains=["a", "b"], ladder={"s": 1e6, "l": 1e7}, objective="loss",
                     steps=[100, 400], budget=2, policy={"name": "fixed", "mixture": [0.5, 0.6]})
    assert not (tmp_path / "study").exists()
