import time

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.executors.inline import InlineExecutor
from bomix.executors.process import ProcessExecutor
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store


def test_process_pool_runs_in_parallel_and_matches_inline(tmp_path):
    backend = SyntheticBackend(k=3, delay=0.6)
    t0 = time.perf_counter()
    s = run_campaign(backend, RandomPolicy(), budget=6, directory=tmp_path / "p", batch_size=2,
                     executor=ProcessExecutor(workers=2, threads=1))
    wall = time.perf_counter() - t0
    assert s["n_runs"] == 6 and s["n_failed"] == 0
    assert wall < 6 * 0.6 + 4  # spawn overhead aside, two at a time
    runs = Store(tmp_path / "p").to_pandas()["runs"]
    assert runs["finished_at"].notna().all()
    # random draws depend only on (seed, runs dispatched): same specs as inline, whatever the finishing order
    run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=6, directory=tmp_path / "i", batch_size=2,
                       executor=InlineExecutor(capacity=2))
    ref_runs = Store(tmp_path / "i").to_pandas()["runs"]
    assert runs["w:d0"].round(12).tolist() == ref_runs["w:d0"].round(12).tolist()
