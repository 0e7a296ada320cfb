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
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
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
