"""A killed process-executor worker costs only its own run; the campaign retries it, charged."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.executors.base import is_infra_failure
from bomix.executors.process import ProcessExecutor
from bomix.policies.heuristics import RandomPolicy
from bomix.store import StoreReader


class PidBackend(SyntheticBackend):
    """Writes ``<dir>/<run_id>.pid`` when a run starts, then takes ``delay`` seconds."""

    def __init__(self, folder: str, die: str | None = None, **kw):
        super().__init__(**kw)
        self.folder, self.die = folder, die

    def run(self, spec):
        Path(self.folder, f"{spec.run_id}.pid").write_text(str(os.getpid()))
        marker = Path(self.folder, f"{spec.run_id}.died")
        if spec.run_id == self.die and not marker.exists():  # the OOM killer strikes once
            marker.write_text("x")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(spec)


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_worker_fails_only_its_run_and_the_pool_recovers(tmp_path):
    backend = PidBackend(str(tmp_path), k=3, delay=1.5)
    ex = ProcessExecutor(workers=2, threads=1)
    ex.start(backend)
    spec = backend.space.center()
    from bomix.runs import RunSpec

    a = RunSpec(spec, backend.space.target.scale, 1000, seed=0, run_id="r00000")
    b = a.with_(run_id="r00001", seed=1)
    ex.submit(a)
    ex.submit(b)
    _wait_for(tmp_path / "r00000.pid")
    _wait_for(tmp_path / "r00001.pid")
    os.kill(int((tmp_path / "r00000.pid").read_text()), signal.SIGKILL)
    results = []
    while ex.n_running:
        results += ex.wait()
    by_id = {r.spec.run_id: r for r in results}
    assert is_infra_failure(by_id["r00000"]) and "worker process died" in by_id["r00000"].error
    assert by_id["r00001"].ok  # the other worker's run survived
    assert ex.n_rebuilt == 1
    ex.submit(a.with_(run_id="r00002"))  # the rebuilt slot works
    assert ex.wait()[0].ok
    ex.shutdown()


def test_campaign_retries_a_dead_workers_run_and_charges_it(tmp_path):
    backend = PidBackend(str(tmp_path), die="r00001", k=3, delay=0.3)
    s = run_campaign(backend, RandomPolicy(), budget=4, directory=tmp_path / "c", batch_size=2,
                     executor=ProcessExecutor(workers=2, threads=1, max_retries=1))
    with StoreReader(tmp_path / "c") as st:
        runs = st.to_pandas()["runs"].set_index("run_id")
    assert runs.loc["r00001", "status"] == "failed" and "worker process died" in runs.loc["r00001", "error"]
    retry = runs[runs["spec"].str.contains('"retry_of": "r00001"')]
    assert len(retry) == 1 and retry["status"].iloc[0] == "ok"
    assert retry["w:d0"].iloc[0] == pytest.approx(runs.loc["r00001", "w:d0"], abs=1e-12)
    assert s["n_retries"] == 1 and s["n_failed"] == 1
    # honest accounting: the lost run and its retry are both charged; the budget holds
    assert runs["charged"].sum() == pytest.approx(s["budget_used"]) and s["budget_used"] <= 4 + 1e-9
    assert s["n_runs"] == 4 and (runs["status"] == "ok").sum() == 3
