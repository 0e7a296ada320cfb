"""One writer per campaign: the directory lock, and run indices allocated inside the transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign
from bomix.errors import BomixError
from bomix.lock import CampaignLock
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture
from bomix.store import Store, StoreReader

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")


def test_second_lock_is_refused_with_the_holder_then_free_after_release(tmp_path):
    with CampaignLock(tmp_path) as first:
        assert first.held
        with pytest.raises(BomixError, match=rf"in use by pid {os.getpid()} on .+ since \d{{4}}-"):
            CampaignLock(tmp_path).acquire()
    with CampaignLock(tmp_path):  # released: free again
        pass


def test_a_campaign_holds_its_directory_until_closed(tmp_path):
    camp = Campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path)
    with pytest.raises(BomixError, match="in use by pid"):
        Campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path)
    camp.run()
    camp.close()
    with Campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path) as again:
        assert again.run()["n_runs"] == 2  # resumed: nothing left to do


def _n_runs(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return 0


def _bomix(args):
    return subprocess.Popen([sys.executable, "-m", "bomix.cli", *args], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_two_processes_on_one_directory_one_is_refused_and_budget_is_not_overspent(tmp_path):
    args = ["run", "policy=random", "budget=6", "backend.delay=1.5", "progress=false", f"hydra.run.dir={tmp_path}"]
    first = _bomix(args)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None and _n_runs(tmp_path / "store.sqlite") < 1:
        time.sleep(0.05)
    assert first.poll() is None, "the first campaign ended before the second started"
    second = _bomix(args)
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2
    lines = err2.strip().splitlines()
    assert len(lines) == 1 and f"in use by pid {first.pid} on " in lines[0], err2
    assert json.loads(out1)["n_runs"] == 6
    with StoreReader(tmp_path) as st:
        runs = st.to_pandas()["runs"]
    assert len(runs) == 6 and runs["charged"].sum() == pytest.approx(6.0)
    assert runs["run_id"].is_unique


def test_concurrent_writers_get_distinct_run_indices(tmp_path):
    """Two connections (as the workers of an ask/tell study) inserting at once never collide."""
    Store(tmp_path).close()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        try:
            with Store(tmp_path) as st:
                for i in range(40):
                    st.add_pending([(RunSpec(Mixture([0.5, 0.5]), "s", 100, seed=seed * 1000 + i), 0.1)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(j,)) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with StoreReader(tmp_path) as st:
        runs = st.to_pandas()["runs"]
    assert sorted(runs["idx"]) == list(range(80))
    assert runs["run_id"].tolist() == [f"r{i:05d}" for i in range(80)]


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_kept(tmp_path):
    """`ln -s victim camp/lock; bomix run ...` used to empty the victim (flock opened through the link)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    camp = tmp_path / "camp"
    camp.mkdir()
    (camp / "lock").symlink_to(victim)
    proc = subprocess.run([sys.executable, "-m", "bomix.cli", "run", "backend=synthetic", "policy=uniform",
                           "budget=1", f"hydra.run.dir={camp}"], capture_output=True, text=True, env=ENV,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "lock is a symbolic link" in proc.stderr
    assert victim.read_text() == "keep me" and not (camp / "store.sqlite").exists()
