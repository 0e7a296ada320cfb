"""A pinned-trunk campaign whose runs branch from the trunk, killed (SIGKILL) at random moments and resumed: the
store ends with exactly the runs of an uninterrupted campaign (same ids, specs with their resume_from and
resume_step, seeds, charges), no run twice and none lost. The branch decision is stored with the pending run
before it starts, so a resumed campaign re-dispatches that same branch."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import ProblemConfig, run_campaign
from bomix.executors.inline import InlineExecutor
from bomix.policies.heuristics import RandomPolicy
from bomix.store import StoreReader

KILLS = 12
PINNED = [{"name": "pre", "fraction": 0.75, "mixture": [0.5, 0.3, 0.2]}, {"name": "anneal", "fraction": 0.25}]


class Marked(SyntheticBackend):
    """Appends each run's id to ``directory/../<name>.started`` as it starts (the parent kills after some)."""

    marker: Path | None = None

    def run(self, spec):
        if self.marker is not None:
            with open(self.marker, "a") as f:
                f.write(f"{spec.run_id}\n")
        return super().run(spec)


def _campaign(directory: Path) -> dict:
    backend = Marked(k=3, anneal=0.5, noise=0.01, delay=0.05)
    backend.marker = directory.parent / f"{directory.name}.started"
    return run_campaign(backend, RandomPolicy(scale="20M", steps=1000), budget=0.005, seed=2, directory=directory,
                        batch_size=2, executor=InlineExecutor(capacity=2), problem=ProblemConfig(phases=PINNED))


def _started(directory: Path) -> int:
    m = directory.parent / f"{directory.name}.started"
    return len(m.read_text().split()) if m.exists() else 0


def _child(directory: str) -> None:
    try:
        _campaign(Path(directory))
        code = 0
    except BaseException:  # noqa: BLE001 - report through the exit code, never unwind into pytest
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def _start(directory: Path):
    p = mp.get_context("fork").Process(target=_child, args=(str(directory),))
    p.start()
    return p


def _runs(directory: Path):
    """The store's runs table, with each stored spec's ``resume_from`` and ``resume_step`` as columns."""
    with StoreReader(directory) as st:
        runs = st.to_pandas()["runs"]
    specs = runs["spec"].map(json.loads)
    return runs.assign(resume_from=specs.map(lambda s: s["resume_from"]),
                       resume_step=specs.map(lambda s: s["resume_step"]))


@pytest.mark.slow
def test_killed_branching_campaign_resumes_without_repeating_or_losing_a_run(tmp_path):
    rng = np.random.default_rng(0)
    p = _start(tmp_path / "ref")
    p.join(timeout=120)
    assert p.exitcode == 0
    ref_summary = json.loads((tmp_path / "ref" / "summary.json").read_text())
    ref = _runs(tmp_path / "ref")
    assert ref["resume_from"].iloc[2:].eq("r00000").all() and ref["resume_from"].iloc[:2].isna().all()
    d = tmp_path / "camp"
    kills, pending_at_kill = 0, 0
    while kills < KILLS:
        p = _start(d)
        target = _started(d) + int(rng.integers(1, 3))  # kill once one or two more runs have started ...
        while p.is_alive() and _started(d) < target:
            time.sleep(0.002)
        time.sleep(float(rng.uniform(0.0, 0.08)))  # ... at a random moment of the run or the bookkeeping after it
        if not p.is_alive():
            p.join()
            assert p.exitcode == 0
            break
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        kills += 1
        runs = _runs(d)
        pending_at_kill += int(((runs["status"] == "pending") & runs["resume_from"].notna()).sum())
    p = _start(d)  # resume to the end
    p.join(timeout=120)
    assert p.exitcode == 0
    runs = _runs(d)
    assert runs["run_id"].is_unique and runs["run_id"].tolist() == ref["run_id"].tolist()
    assert (runs["status"] == "ok").all()
    for col in ("spec", "resume_from", "resume_step", "scale", "steps", "seed", "charged", "cost"):
        assert runs[col].tolist() == ref[col].tolist(), col
    full = SyntheticBackend(k=3).cost_model("20M", 1000)
    n = len(runs)
    assert runs["charged"].sum() == pytest.approx(full * (2 + 0.25 * (n - 2)), rel=1e-9)
    assert kills >= 4 and pending_at_kill >= 1, (kills, pending_at_kill)  # some kills left a branch pending
    assert ref_summary["n_runs"] == n
