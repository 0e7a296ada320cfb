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


class ThreadsBackend(SyntheticBackend):
    """Reports the worker's torch thread count and thread environment in each result's info."""

    def run(self, spec):
        import os

        import torch

        res = super().run(spec)
        res.info = {**(res.info or {}), "torch_threads": torch.get_num_threads(),
                    "omp": os.environ.get("OMP_NUM_THREADS"), "mkl": os.environ.get("MKL_NUM_THREADS")}
        return res


def _worker_threads(executor) -> list[dict]:
    from bomix.runs import RunSpec

    backend = ThreadsBackend(k=3)
    executor.start(backend)
    try:
        for i in range(executor.capacity):
            executor.submit(RunSpec(backend.space.center(), backend.space.target.scale, 1000, seed=i,
                                    run_id=f"r{i:05d}"))
        out = []
        while executor.n_running:
            out += executor.wait()
    finally:
        executor.shutdown()
    assert all(r.status == "ok" for r in out), [r.error for r in out]
    return [r.info for r in out]


def test_process_workers_get_the_configured_thread_count():
    for info in _worker_threads(ProcessExecutor(workers=2, threads=3)):
        assert (info["torch_threads"], info["omp"], info["mkl"]) == (3, "3", "3")


def test_process_workers_default_to_one_thread_on_cpu():
    from bomix.executors.process import available_cores

    ex = ProcessExecutor(workers=2)
    assert ex.threads == 1
    for info in _worker_threads(ex):
        assert (info["torch_threads"], info["omp"], info["mkl"]) == (1, "1", "1")
    assert ProcessExecutor(workers=1, gpus=[0]).threads == available_cores()


def test_trainer_cpu_threads_default(monkeypatch):
    from bomix.backends.trainer.backend import cpu_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu_threads() == 1 and cpu_threads(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what a process worker (or the user) sets
    assert cpu_threads() == 2 and cpu_threads(1) == 1
