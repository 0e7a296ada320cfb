"""RayExecutor on a local Ray instance (one CPU): campaign, out-of-order collection, failed runs."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from bomix.backends.synthetic import SyntheticBackend  # noqa: E402
from bomix.campaign import run_campaign  # noqa: E402
from bomix.errors import BomixError  # noqa: E402
from bomix.executors.ray_executor import RayExecutor  # noqa: E402
from bomix.policies.heuristics import RandomPolicy  # noqa: E402
from bomix.runs import RunSpec  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_campaign_and_failed_run(local_ray, tmp_path):
    backend = SyntheticBackend(k=3)
    s = run_campaign(backend, RandomPolicy(), budget=3, directory=tmp_path / "c", batch_size=2,
                     executor=RayExecutor(capacity=2, num_cpus=0.5))
    assert s["n_runs"] == 3 and s["n_failed"] == 0
    ex = RayExecutor(capacity=2, num_cpus=0.5)
    ex.start(backend)
    good = RunSpec(backend.space.center(), backend.space.target.scale, 1000, seed=0, run_id="g")
    ex.submit(good)
    ex.submit(good.with_(scale="nope", run_id="b"))
    results = []
    while ex.n_running:
        results += ex.wait()
    ex.shutdown()
    assert ray.is_initialized()  # it did not start Ray, so it leaves it running
    by_id = {r.spec.run_id: r for r in results}
    assert by_id["g"].ok and by_id["b"].status == "failed" and "nope" in by_id["b"].error


def test_bad_capacity():
    with pytest.raises(BomixError, match="capacity"):
        RayExecutor(capacity=0)


def test_killed_ray_worker_costs_one_run_and_is_retried_charged(local_ray, tmp_path):
    from bomix.store import StoreReader

    import kill_once

    ray.cloudpickle.register_pickle_by_value(kill_once)  # workers cannot import test modules
    backend = kill_once.KillOnce(str(tmp_path), "r00001", k=3, delay=1.0)  # the kill arrives while the budget has room
    s = run_campaign(backend, RandomPolicy(), budget=4, directory=tmp_path / "c", batch_size=2,
                     executor=RayExecutor(capacity=2, num_cpus=0.5, max_retries=1))
    with StoreReader(tmp_path / "c") as st:
        runs = st.to_pandas()["runs"].set_index("run_id")
    assert runs.loc["r00001", "status"] == "failed" and "WorkerCrashedError" in runs.loc["r00001", "error"]
    retry = runs[runs["spec"].str.contains('"retry_of": "r00001"')]
    assert len(retry) == 1 and retry["status"].iloc[0] == "ok"
    assert s["n_retries"] == 1 and s["n_runs"] == 4 and (runs["status"] == "ok").sum() == 3
    assert runs["charged"].sum() == pytest.approx(s["budget_used"]) and s["budget_used"] <= 4 + 1e-9
