"""Reading earlier stores into a new campaign: mapped mixtures, dropped runs, never charged, never duplicated."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, build_problem, run_campaign
from bomix.errors import BomixError
from bomix.policies.bo import MFBOPolicy
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store, StoreReader
from bomix.summary_text import format_summary
from bomix.warmstart import WarmStartConfig, load_reused

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
NEW = ["d0", "p", "q", "d2", "extra"]
SPLIT = {"split": {"d1": {"p": 0.25, "q": 0.75}}, "add": ["extra"]}
SMALL = dict(gp={"maxiter": 15, "cold_start": False}, search={"raw_samples": 16, "starts": 1, "iters": 3},
             max_obs=60, max_per_run=2, n_init=3, fidelities=["20M@20000", "1B@20000"])


@pytest.fixture(scope="module")
def old(tmp_path_factory) -> Path:
    """An earlier 3-domain campaign: a swarm of random runs at 20M@20000 (plus one at the target)."""
    d = tmp_path_factory.mktemp("old")
    run_campaign(SyntheticBackend(k=3, seed=0), RandomPolicy(scale="20M"), budget=0.6, seed=0, directory=d)
    return d


def old_ok(d: Path) -> list:
    r = StoreReader(d)
    try:
        res, _, _ = r.load(r.get_meta("domains"))
    finally:
        r.close()
    return [x for x in res if x.ok]


def new_backend() -> SyntheticBackend:
    return SyntheticBackend(domains=NEW, seed=0)


def test_split_and_add_map_every_old_run(old):
    b = new_backend()
    prob = build_problem(b)
    reused = load_reused(WarmStartConfig.parse({"dirs": [str(old)], **SPLIT}), prob.space, prob.objective)
    runs = old_ok(old)
    assert reused.n_reused == len(runs) > 0 and reused.dropped == {}
    w_old = {f"ws0:{r.spec.run_id}": r.spec.mixture.weights for r in runs}
    for w, rid in zip(reused.obs.w, reused.obs.run_ids):
        o = w_old[rid]
        np.testing.assert_allclose(w, [o[0], 0.25 * o[1], 0.75 * o[1], o[2], 0.0], atol=1e-12)
    assert set(reused.task.tolist()) == {1}
    assert "\n" not in str(reused.report())


def test_removed_domain_kept_as_separate_task_or_dropped(old):
    b = SyntheticBackend(domains=["d0", "d1"], seed=0)
    prob = build_problem(b)
    runs = old_ok(old)
    share = np.array([r.spec.mixture.weights[2] for r in runs])
    keep = WarmStartConfig.parse({"dirs": [str(old)], "remove": ["d2"], "removed_max": 0.99})
    reused = load_reused(keep, prob.space, prob.objective)
    assert reused.n_reused == int((share <= 0.99).sum())
    assert reused.tasks() == {"removed-renormalised": int(((share > 1e-9) & (share <= 0.99)).sum())}
    np.testing.assert_allclose(reused.obs.w.sum(1), 1.0)  # renormalised over the kept domains
    drop = WarmStartConfig.parse({"dirs": [str(old)], "remove": ["d2"], "removed": "drop"})
    reused = load_reused(drop, prob.space, prob.objective)
    assert reused.n_reused == 0 and reused.dropped == {"weight on a removed domain (removed: drop)": len(runs)}


def test_scale_outside_the_new_ladder_is_dropped_and_counted(old):
    b = SyntheticBackend(domains=NEW, seed=0, scales={"60M": 60e6, "1B": 1e9})
    prob = build_problem(b)
    runs = old_ok(old)
    reused = load_reused(WarmStartConfig.parse({"dirs": [str(old)], **SPLIT}), prob.space, prob.objective)
    off = sum(r.spec.scale not in ("60M", "1B") for r in runs)
    assert off > 0
    assert reused.n_reused == len(runs) - off
    assert sum(reused.dropped.values()) == off


def test_missing_store_and_wrong_mapping_refused_before_anything_is_written(tmp_path, old):
    with pytest.raises(BomixError, match="no campaign store in"):
        Campaign(new_backend(), RandomPolicy(), budget=1, directory=tmp_path / "a",
                 warm_start={"dirs": [str(tmp_path / "nothing")], **SPLIT})
    with pytest.raises(BomixError, match="shares sum to 0.9"):
        Campaign(new_backend(), RandomPolicy(), budget=1, directory=tmp_path / "b",
                 warm_start={"dirs": [str(old)], "split": {"d1": {"p": 0.2, "q": 0.7}}, "add": ["extra"]})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def charged(d: Path) -> tuple[int, float]:
    s = Store(d)
    try:
        runs = s.to_pandas()["runs"]
        return len(runs), float(s.spent())
    finally:
        s.close()


def test_warm_started_campaign_counts_reuse_charges_nothing_and_resumes_without_duplicates(tmp_path, old):
    warm = {"dirs": [str(old)], **SPLIT}
    n_old = len(old_ok(old))
    d = tmp_path / "new"
    s = run_campaign(new_backend(), MFBOPolicy(**SMALL), budget=3, seed=0, directory=d, warm_start=warm, max_runs=4)
    assert s["warm_start"]["n_reused"] == n_old and s["n_runs"] == 4
    n, spent = charged(d)
    assert n == 4 and spent == pytest.approx(s["budget_used"])  # only the new runs are in the books
    # "kill" and resume: more runs allowed; the reused runs are read again, not copied or charged
    s2 = run_campaign(new_backend(), MFBOPolicy(**SMALL), budget=3, seed=0, directory=d, warm_start=warm, max_runs=6)
    n2, spent2 = charged(d)
    assert s2["n_runs"] == n2 == 6 and s2["warm_start"]["n_reused"] == n_old
    assert spent2 == pytest.approx(s2["budget_used"]) and spent2 > spent
    assert f"reused {n_old} runs from {old}" in format_summary(s2)
    # the resumed campaign is the uninterrupted one
    ref = run_campaign(new_backend(), MFBOPolicy(**SMALL), budget=3, seed=0, directory=tmp_path / "ref",
                       warm_start=warm, max_runs=6)
    assert ref["recommendation"] == s2["recommendation"]
    # a different warm start is another config
    with pytest.raises(BomixError, match="different config"):
        run_campaign(new_backend(), MFBOPolicy(**SMALL), budget=3, seed=0, directory=d, max_runs=6)


def test_gp_gets_the_task_prior_only_when_warm_started(tmp_path, old):
    from gpytorch.means import ConstantMean

    from bomix.surrogate.transfer import TransferMean

    warm = {"dirs": [str(old)], **SPLIT}
    models = {}
    for name, ws in (("plain", None), ("warm", warm)):
        camp = Campaign(new_backend(), MFBOPolicy(**SMALL), budget=3, seed=0, directory=tmp_path / name,
                        warm_start=ws, max_runs=4)
        try:
            camp.run()
            from bomix.history import History

            results, pending, spent = camp.store.load(camp.problem.space.domains)
            h = History(camp.problem.space, camp.problem.objective, results, pending, 3.0, spent, reused=camp.reused)
            models[name] = camp.policy.model(h)[0]
            models[name + "_info"] = camp.policy.diagnostics()
        finally:
            camp.close()
    assert isinstance(models["plain"].mean_module, ConstantMean)
    assert not any("rho" in k for k, _ in models["plain"].named_parameters())
    assert "reuse_fits" not in models["plain_info"]
    assert sum(models["warm_info"]["reuse_fits"].values()) >= 1  # every model-based decision weighed the old task
    mean = models["warm"].mean_module
    assert isinstance(mean, TransferMean)
    keys = [k for k, _ in models["warm"].named_parameters() if k.startswith("mean_module")]
    assert sorted(keys) == ["mean_module.constant", "mean_module.raw_rho"]  # the old GP is fixed, not refitted
    # the same world: the old task predicts the new runs, so its learned coefficient is clearly positive
    assert float(mean.rho[0].detach()) > 0.2


def test_wrong_mapping_on_the_command_line_is_one_line_exit_2(tmp_path, old):
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "bomix.cli", "run", "policy=random", "budget=1", "progress=false",
                        f"hydra.run.dir={tmp_path / 'c'}", f"warm_start={{dirs: [{old}], rename: {{d1: nope}}}}"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown new domain 'nope'" in lines[0], p.stderr[-2000:]
    assert not (tmp_path / "c" / "store.sqlite").exists()


def test_summary_line_states_reuse_and_drops():
    from bomix.summary_text import reuse_line

    s = {"warm_start": {"dirs": ["runs/a"], "n_reused": 12, "dropped": {"not ok": 2, "scale 7B not in the new ladder": 1},
                        "tasks": {"mapped": 10, "removed-renormalised": 2}}}
    assert reuse_line(s) == ("reused 12 runs from runs/a (3 dropped: 2 not ok; 1 scale 7B not in the new ladder), "
                             "as tasks: 10 mapped, 2 removed-renormalised; not charged")
    assert reuse_line({}) is None


def test_warm_start_caps_the_initial_design(old):
    from bomix.history import History
    from bomix.policies.bo.base import WARM_INIT_RUNS

    b = new_backend()
    prob = build_problem(b)
    pol = MFBOPolicy(**dict(SMALL, n_init=8))
    pol.bind(prob, 0)
    plain = History(prob.space, prob.objective)
    assert pol.n_initial(plain) == 8
    reused = load_reused(WarmStartConfig.parse({"dirs": [str(old)], **SPLIT}), prob.space, prob.objective)
    assert pol.n_initial(History(prob.space, prob.objective, reused=reused)) == WARM_INIT_RUNS


def test_old_store_without_the_objectives_metric_is_one_line(old):
    from bomix.campaign import ProblemConfig

    b = SyntheticBackend(domains=NEW, seed=0, tasks=1)
    prob = build_problem(b, ProblemConfig(objective="task:0"))
    with pytest.raises(BomixError, match="has no metric task:0") as e:
        load_reused(WarmStartConfig.parse({"dirs": [str(old)], **SPLIT}), prob.space, prob.objective)
    assert "\n" not in str(e.value)
