"""bomix.bench.sweep: a grid of ordinary `bomix run` campaigns, run in parallel, resumable, errors reported."""

from __future__ import annotations

import json
from pathlib import Path

from bomix.bench.sweep import Job, grid, run_jobs
from bomix.store import Store


def test_grid_lays_out_one_directory_per_backend_policy_seed(tmp_path):
    jobs = grid(tmp_path, {"syn": ["backend=synthetic"]}, {"random": ["policy=random"], "uniform": ["policy=uniform"]},
                seeds=range(2), budget=2, extra=["batch_size=1"])
    assert len(jobs) == 4
    dirs = {Path(j.directory).relative_to(tmp_path).as_posix() for j in jobs}
    assert dirs == {"syn/random/seed0", "syn/random/seed1", "syn/uniform/seed0", "syn/uniform/seed1"}
    j = next(j for j in jobs if j.labels == {"backend": "syn", "policy": "uniform", "seed": "1"})
    assert j.overrides == ("backend=synthetic", "policy=uniform", "seed=1", "budget=2.0", "progress=false",
                           "batch_size=1")
    assert not j.done


def test_run_jobs_runs_in_parallel_then_skips_finished_campaigns(tmp_path):
    jobs = grid(tmp_path, {"syn": ["backend=synthetic"]}, {"random": ["policy=random"]}, seeds=range(2), budget=2)
    results = list(run_jobs(jobs, n_jobs=2))
    assert len(results) == 2 and all("error" not in r for r in results)
    for r in results:
        summary = json.loads((tmp_path / "syn" / "random" / f"seed{r['seed']}" / "summary.json").read_text())
        assert r["regret"] == summary["regret"] and r["n_runs"] == summary["n_runs"] > 0
        assert 0 < r["budget_used"] <= 2.0 + 1e-9
    assert all(j.done for j in jobs)
    assert list(run_jobs(jobs, n_jobs=2)) == []  # finished campaigns are skipped
    assert {r["threads"] for r in results} == {1}  # parallel workers: one torch thread each


def test_one_job_at_a_time_runs_at_the_configs_threads_unless_the_job_sets_them(tmp_path):
    a, b = grid(tmp_path, {"syn": ["backend=synthetic"]}, {"random": ["policy=random"]}, seeds=range(2), budget=1)
    b = Job(b.directory, (*b.overrides, "threads=1"), b.labels)
    (ra,), (rb,) = run_jobs([a], n_jobs=1), run_jobs([b], n_jobs=1)
    assert (ra["threads"], rb["threads"]) == (2, 1)  # bomix run's default, then the job's own


def test_run_jobs_resumes_an_interrupted_campaign(tmp_path):
    (job,) = grid(tmp_path, {"syn": ["backend=synthetic"]}, {"random": ["policy=random"]}, seeds=[3], budget=1)
    (first,) = run_jobs([job], n_jobs=1)
    n_first = len(Store(job.directory).to_pandas()["runs"])
    (Path(job.directory) / "summary.json").unlink()  # as if killed before the summary was written
    raised = Job(job.directory, tuple(o if not o.startswith("budget=") else "budget=2.0" for o in job.overrides),
                 job.labels)
    (second,) = run_jobs([raised], n_jobs=1)
    runs = Store(job.directory).to_pandas()["runs"]
    assert second["n_runs"] == len(runs) > n_first >= first["n_runs"] > 0
    assert runs["run_id"].is_unique


def test_a_bad_job_reports_its_error_instead_of_stopping_the_sweep(tmp_path):
    bad = Job(str(tmp_path / "bad"), ("backend=synthetic", "policy=fixed", "policy.mixture={nope: 1.0}",
                                      "budget=1", "progress=false"), {"policy": "fixed"})
    good = grid(tmp_path, {"syn": ["backend=synthetic"]}, {"uniform": ["policy=uniform"]}, seeds=[0], budget=1)
    results = {r["policy"]: r for r in run_jobs([bad, *good], n_jobs=1)}
    assert "nope" in results["fixed"]["error"]
    assert "error" not in results["uniform"] and results["uniform"]["regret"] is not None


def test_a_crashing_job_is_reported_with_its_type(tmp_path, monkeypatch):
    import bomix.app

    def boom(cfg, directory):
        raise KeyError("nih_exporter")

    monkeypatch.setattr(bomix.app, "run_from_config", boom)
    (job,) = grid(tmp_path, {"syn": ["backend=synthetic"]}, {"random": ["policy=random"]}, seeds=[0], budget=1)
    (r,) = run_jobs([job], n_jobs=1)
    assert r["crash"] == "KeyError: 'nih_exporter'" and "error" not in r


def test_benchmark_names_are_checked_against_the_choices():
    import pytest

    from bomix.bench.sweep import check_names, policy_names
    from bomix.errors import BomixError

    assert {"mfbo", "random", "regmix"} <= set(policy_names())
    assert check_names(["mfbo"], policy_names(), "policy") == ["mfbo"]
    with pytest.raises(BomixError, match=r"unknown policy 'nope': choose from \[.*'mfbo'"):
        check_names(["mfbo", "nope"], policy_names(), "policy")


def test_variant_overrides_put_the_variant_after_the_sizes_and_build_the_policy():
    from bomix.bench.sweep import build_policy, policy_overrides

    sizes = {"mfbo": ["policy.search.starts=2", "policy.search.iters=7"], "sfbo": ["policy.search.starts=4"]}
    variants = {"mfbo_cold": ["policy=mfbo", "policy.gp.cold_start=false", "policy.search.iters=9"]}
    assert policy_overrides("sfbo", variants, sizes) == ["policy=sfbo", "policy.search.starts=4"]
    assert policy_overrides("random", variants, sizes) == ["policy=random"]
    over = policy_overrides("mfbo_cold", variants, sizes)
    assert over == ["policy=mfbo", "policy.search.starts=2", "policy.search.iters=7", "policy.gp.cold_start=false",
                    "policy.search.iters=9"]
    p = build_policy(over, name="mfbo_cold")
    assert p.name == "mfbo_cold" and p.gp_cfg.cold_start is False
    assert p.opt_cfg.starts == 2 and p.opt_cfg.iters == 9  # the variant's own setting wins over the size
    assert build_policy(["policy=sfbo"]).name == "sfbo"
