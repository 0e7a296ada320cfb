"""SubmititExecutor: job arrays and as-completed collection, with submitit's debug and local executors."""

from __future__ import annotations

import pytest

pytest.importorskip("submitit")

from bomix.backends.synthetic import SyntheticBackend  # noqa: E402
from bomix.campaign import run_campaign  # noqa: E402
from bomix.errors import BomixError  # noqa: E402
from bomix.executors.inline import InlineExecutor  # noqa: E402
from bomix.executors.slurm import SubmititExecutor  # noqa: E402
from bomix.policies.heuristics import RandomPolicy  # noqa: E402
from bomix.runs import RunSpec  # noqa: E402
from bomix.store import Store  # noqa: E402


def test_debug_cluster_campaign_matches_inline(tmp_path):
    ex = SubmititExecutor(folder=str(tmp_path / "logs" / "%j"), cluster="debug", capacity=2, poll=0.01)
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=4, directory=tmp_path / "d", batch_size=2,
                     executor=ex)
    assert s["n_runs"] == 4 and s["n_failed"] == 0
    run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=4, directory=tmp_path / "i", batch_size=2,
                 executor=InlineExecutor(capacity=2))
    a = Store(tmp_path / "d").to_pandas()["runs"]
    b = Store(tmp_path / "i").to_pandas()["runs"]
    # the first array holds the same two specs as inline dispatch (later ones depend on finishing order)
    assert a["w:d0"].round(12).tolist()[:2] == b["w:d0"].round(12).tolist()[:2]
    assert a["finished_at"].notna().all() and len(a) == 4


def test_local_cluster_job_array_and_failed_run(tmp_path):
    backend = SyntheticBackend(k=3)
    ex = SubmititExecutor(folder=str(tmp_path / "logs" / "%j"), cluster="local", capacity=2, poll=0.2,
                          timeout_min=5)
    ex.start(backend)
    arrays = []
    real_map_array = ex._ex.map_array

    def spy(fn, *iterables):
        arrays.append(len(iterables[0]))
        return real_map_array(fn, *iterables)

    ex._ex.map_array = spy
    good = RunSpec(backend.space.center(), backend.space.target.scale, 1000, seed=0, run_id="r0")
    bad = good.with_(scale="no-such-scale", run_id="r1")  # the backend raises: a failed run, not a crash
    ex.submit(good)
    ex.submit(bad)
    assert ex.n_running == 2
    results = []
    while ex.n_running:
        results += ex.wait()
    ex.shutdown()
    by_id = {r.spec.run_id: r for r in results}
    assert by_id["r0"].ok and len(by_id["r0"].curve) > 0
    assert by_id["r1"].status == "failed" and "no-such-scale" in by_id["r1"].error
    assert arrays == [2]  # both specs went out as one job array


def test_bad_options():
    with pytest.raises(BomixError, match="cluster"):
        SubmititExecutor(cluster="pbs")
    with pytest.raises(BomixError, match="capacity"):
        SubmititExecutor(capacity=0)


@pytest.mark.slow
def test_killed_local_job_costs_one_run_and_is_retried_charged(tmp_path):
    import kill_once

    import cloudpickle

    from bomix.executors.base import is_infra_failure
    from bomix.store import StoreReader

    cloudpickle.register_pickle_by_value(kill_once)  # job processes cannot import test modules
    # ok runs take 1 s, the killed one dies at once: its failure arrives while the budget has room
    backend = kill_once.KillOnce(str(tmp_path), "r00001", k=3, delay=1.0)
    ex = SubmititExecutor(folder=str(tmp_path / "logs" / "%j"), cluster="local", capacity=2, poll=0.2,
                          timeout_min=5, max_retries=1)
    s = run_campaign(backend, RandomPolicy(), budget=4, directory=tmp_path / "c", batch_size=2, executor=ex)
    with StoreReader(tmp_path / "c") as st:
        runs = st.to_pandas()["runs"].set_index("run_id")
        results, _, _ = st.load(st.get_meta("domains"))
    assert is_infra_failure(next(r for r in results if r.spec.run_id == "r00001"))
    retry = runs[runs["spec"].str.contains('"retry_of": "r00001"')]
    assert len(retry) == 1 and retry["status"].iloc[0] == "ok"
    assert s["n_retries"] == 1 and s["n_runs"] == 4 and (runs["status"] == "ok").sum() == 3
    assert runs["charged"].sum() == pytest.approx(s["budget_used"]) and s["budget_used"] <= 4 + 1e-9


def test_local_jobs_die_with_a_sigkilled_campaign(tmp_path):
    """submitit's local controller outlives its caller by design; bomix's local jobs watch the campaign."""
    import os
    import signal
    import subprocess
    import sys
    import time

    logs = tmp_path / "logs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bomix.cli", "run", "backend=synthetic", "policy=random", "budget=50",
         "backend.delay=30", "executor=slurm", "executor.cluster=local", f"executor.folder={logs}/%j",
         "batch_size=2", "progress=false", f"hydra.run.dir={tmp_path / 'c'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def jobs() -> list[int]:
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
                state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if str(logs) in cmd and state != "Z" and int(pid) != proc.pid:
                out.append(int(pid))
        return out

    try:
        deadline = time.time() + 90
        while len(jobs()) < 2 and time.time() < deadline:
            assert proc.poll() is None, "bomix run exited early"
            time.sleep(0.2)
        assert len(jobs()) >= 2, "no local jobs started"
        time.sleep(2)  # the jobs have imported bomix and armed their watchdog
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 15
        while jobs() and time.time() < deadline:
            time.sleep(0.2)
        assert not jobs(), f"local jobs still alive 15 s after the campaign's SIGKILL: {jobs()}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in jobs():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
