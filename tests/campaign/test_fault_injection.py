"""Kill a campaign (SIGKILL) at random moments, the summary write included, 50 times; resume each time.

The final store must hold exactly the runs of an uninterrupted campaign (same ids, specs, seeds,
results), no run twice, and the budget charged exactly; summary.json is never left partial.
"""

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
from bomix.campaign import run_campaign
from bomix.executors.inline import InlineExecutor
from bomix.policies.heuristics import RandomPolicy
from bomix.store import StoreReader

KILLS = 50
BUDGET = 10.0
DELAY = 0.02  # seconds per synthetic run


def _campaign(directory: Path, seed: int) -> dict:
    return run_campaign(SyntheticBackend(k=3, delay=DELAY), RandomPolicy(), budget=BUDGET, seed=seed,
                        directory=directory, batch_size=2, executor=InlineExecutor(capacity=2))


def _child(directory: str, seed: int, marker: str | None) -> None:
    """Run (or resume) the campaign; with ``marker``, stop inside the summary write and wait to be killed."""
    try:
        if marker:
            import bomix.layout as layout

            real_fsync = layout.os.fsync

            def fsync_then_hang(fd):  # the temporary summary is written, not yet renamed
                real_fsync(fd)
                Path(marker).write_text("in summary write")
                time.sleep(120)

            layout.os.fsync = fsync_then_hang
        _campaign(Path(directory), seed)
        code = 0
    except BaseException:  # noqa: BLE001 - report through the exit code, never unwind into pytest
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def _start(directory: Path, seed: int, marker: Path | None = None):
    p = mp.get_context("fork").Process(target=_child, args=(str(directory), seed, str(marker) if marker else None))
    p.start()
    return p


def _kill(p) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.join()


def _runs(directory: Path):
    with StoreReader(directory) as st:
        tabs = st.to_pandas()
    return tabs["runs"], tabs["curves"], tabs["recommendations"]


def _kill_in_summary_write(directory: Path, seed: int, tmp: Path) -> None:
    marker = tmp / f"marker-{seed}-{time.monotonic_ns()}"
    before = directory.joinpath("summary.json").read_text() if directory.joinpath("summary.json").exists() else None
    p = _start(directory, seed, marker)
    deadline = time.time() + 60
    while not marker.exists():
        assert p.is_alive() and time.time() < deadline, "the campaign never reached its summary write"
        time.sleep(0.005)
    _kill(p)
    after = directory.joinpath("summary.json").read_text() if directory.joinpath("summary.json").exists() else None
    assert after == before  # the old summary (or none), never a partial one


@pytest.mark.slow
def test_fifty_sigkills_lose_and_repeat_nothing(tmp_path):
    rng = np.random.default_rng(0)
    kills = summary_kills = 0
    killed_at: list[int] = []  # finished runs in the store at each random kill
    seed = 0
    while kills < KILLS:
        ref = tmp_path / f"ref{seed}"
        t0 = time.perf_counter()
        ref_summary = _campaign(ref, seed)
        duration = time.perf_counter() - t0
        d = tmp_path / f"camp{seed}"
        done = False
        for _ in range(8):  # random moments, anywhere from start-up to the end
            if kills >= KILLS:
                break
            p = _start(d, seed)
            p.join(timeout=float(rng.uniform(0.0, 1.2 * duration)))
            if p.is_alive():
                _kill(p)
                kills += 1
                if (d / "store.sqlite").exists():
                    with StoreReader(d) as st:
                        killed_at.append(int((st.to_pandas()["runs"]["status"] != "pending").sum()))
            else:
                assert p.exitcode == 0
                done = True
                break
        if not done and kills < KILLS:  # the moment of the summary write, first and on a finished campaign
            _kill_in_summary_write(d, seed, tmp_path)
            kills += 1
            summary_kills += 1
        p = _start(d, seed)  # resume to the end
        p.join(timeout=120)
        assert p.exitcode == 0
        if kills < KILLS:  # a finished campaign re-run and killed while it rewrites its summary
            _kill_in_summary_write(d, seed, tmp_path)
            kills += 1
            summary_kills += 1
            p = _start(d, seed)
            p.join(timeout=120)
            assert p.exitcode == 0
        summary = json.loads((d / "summary.json").read_text())
        runs, curves, recs = _runs(d)
        ref_runs, ref_curves, ref_recs = _runs(ref)
        assert runs["run_id"].is_unique and runs["run_id"].tolist() == ref_runs["run_id"].tolist()
        assert (runs["status"] == "ok").all()
        for col in ("spec", "scale", "steps", "status", "charged", "cost", "seed"):
            assert runs[col].tolist() == ref_runs[col].tolist(), col
        cols = ["run_id", "step", "metric"]
        assert curves[cols].equals(ref_curves[cols])  # the same points (values: last-ulp differences, see below)
        np.testing.assert_allclose(curves["value"], ref_curves["value"], rtol=1e-12, atol=0)
        assert runs["charged"].sum() == pytest.approx(ref_runs["charged"].sum(), abs=1e-12)
        assert summary["budget_used"] == pytest.approx(ref_summary["budget_used"], abs=1e-12)
        assert summary["n_runs"] == ref_summary["n_runs"] and summary["budget_used"] <= BUDGET + 1e-9
        # a spec re-read from the store is renormalised once more (last-ulp differences), hence approx
        assert summary["recommendation"] == pytest.approx(ref_summary["recommendation"], rel=1e-12)
        assert json.loads(recs["mixture"].iloc[-1]) == pytest.approx(json.loads(ref_recs["mixture"].iloc[-1]), rel=1e-12)
        assert not list(d.glob(".summary.json.*"))  # a killed write's temporary is cleaned on resume
        seed += 1
    assert kills == KILLS and summary_kills >= 2
    assert len(set(killed_at)) >= 4, killed_at  # the kills landed at many different points of the campaign
