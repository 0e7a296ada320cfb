from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.executors.inline import InlineExecutor
from bomix.executors.process import ProcessExecutor
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store


def test_process_pool_runs_in_parallel_and_matches_inline(tmp_path):
    backend = SyntheticBackend(k=3, delay=0.6)
    s = run_campaign(backend, RandomPolicy(), budget=6, directory=tmp_path / "p", batch_size=2,
                     executor=ProcessExecutor(workers=2, threads=1))
    assert s["n_runs"] == 6 and s["n_failed"] == 0
    runs = Store(tmp_path / "p").to_pandas()["runs"]
    assert runs["finished_at"].notna().all()
    # two at a time: some runs' execution intervals [finished_at - wall_time, finished_at] overlap
    start, end = (runs["finished_at"] - runs["wall_time"]).to_numpy(), runs["finished_at"].to_numpy()
    overlaps = sum(start[i] < end[j] and start[j] < end[i] for i in range(6) for j in range(i + 1, 6))
    assert overlaps >= 2
    # random draws depend only on (seed, runs dispatched): same specs as inline, whatever the finishing order
    run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=6, directory=tmp_path / "i", batch_size=2,
                       executor=InlineExecutor(capacity=2))
    ref_runs = Store(tmp_path / "i").to_pandas()["runs"]
    assert runs["w:d0"].round(12).tolist() == ref_runs["w:d0"].round(12).tolist()
