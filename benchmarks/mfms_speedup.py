"""MFMS speedup benchmark: seeds x policies x objectives as ordinary resumable campaigns on the MFMS simulator.

Each campaign lives in ``OUT/campaigns/<objective>/<policy>/seed<k>`` (store + summary.json); a finished one
is skipped and an interrupted one resumes from its store, so an interrupted sweep continues where it
stopped. Aggregation (regret vs cost, cost to reach regret <= eps, speedups) uses ``bomix.bench``; the
script writes ``OUT/summary.json`` (+ ``OUT/headline.json``: the issue's targets) and PNG plots.

Objectives at (1B, 19500): ``stackexchange`` (ce_stackexchange) and ``mean7`` (mean CE over the 7
validation domains, conf/problem/mfms_mean7.yaml). Policy settings come from conf/policy/<name>.yaml with
the benchmark's size overrides (``SIZES``) for fast decisions on 2 cores.

Usage:
    python benchmarks/mfms_speedup.py [--seeds 10] [--policies mfbo,mfms_ei,sfbo,mfkg,mfmes,hyperband,random,bimix]
        [--objectives stackexchange,mean7] [--budget 6] [--jobs 2] [--out benchmarks/results/mfms_speedup]
        [--mfms-path PATH] [--max-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = {
    "stackexchange": "ce_stackexchange",
    "mean7": {"name": "mean7_ce", "mean": ["ce_commoncrawl", "ce_c4", "ce_wikipedia", "ce_stackexchange",
                                           "ce_github", "ce_arxiv", "ce_book"]},
}
# Benchmark sizes as ``bomix run`` overrides (smaller optimiser budgets than the conf defaults: ~1 s decisions on
# 2 busy cores; mfbo's defaults are these sizes).
SIZES = {
    "mfkg": ["policy.search.raw_samples=24", "policy.num_fantasies=4", "policy.target_set=32",
             "policy.gp.maxiter=40", "policy.max_obs=120", "policy.max_per_run=3"],
    "mfmes": ["policy.search.raw_samples=32", "policy.search.iters=5", "policy.candidate_set=128",
              "policy.gp.maxiter=40", "policy.max_obs=120", "policy.max_per_run=3"],
    "sfbo": ["policy.search.raw_samples=128", "policy.search.starts=3", "policy.search.iters=15",
             "policy.gp.maxiter=40"],
    "mfms_ei": ["policy.search.raw_samples=64", "policy.restarts=3", "policy.gp.maxiter=50", "policy.max_obs=150"],
}
# Variants compared with the defaults: label -> overrides (the policy config, then the settings that differ); the
# policy is named by its label. ``mfbo_plain``: the model without the level and invariant kernels, law shifts
# started at the middle of their bounds, no cold starts (mfbo before 2026-12-01 session 3); ``mfbo_warm_only``:
# no cold starts; ``mfbo_no_level``: no cold starts and no level kernel; on the plain model:
# ``mfbo_no_alternative``: an expensive run at w* is not compared with a cheap run elsewhere; ``mfbo_contrasts``:
# that, plus decisions on contrasts with the incumbent and a per-fidelity level offset; ``mfbo_contrasts_only``:
# the default model, deciding and recommending on contrasts; ``mfkg_mfbo_model`` / ``mfmes_mfbo_model``: MF-KG /
# MF-MES on mfbo's model (``MFBO_MODEL``).
# mfbo's model (its GP defaults) for the other acquisitions: the same surrogate, a different rule for the next run
MFBO_MODEL = ["policy.gp.law=true", "policy.gp.level=true", "policy.gp.invariant=true", "policy.gp.law_shift_init=0.01",
              "policy.gp.cold_start=true"]
PLAIN = ["policy.gp.level=false", "policy.gp.invariant=false", "policy.gp.law_shift_init=null",
         "policy.gp.cold_start=false"]
VARIANTS = {"mfbo_plain": ["policy=mfbo", *PLAIN],
            "mfbo_warm_only": ["policy=mfbo", "policy.gp.cold_start=false"],
            "mfbo_no_level": ["policy=mfbo", "policy.gp.level=false", "policy.gp.cold_start=false"],
            "mfbo_no_alternative": ["policy=mfbo", "policy.compare_alternative=false", *PLAIN],
            "mfbo_contrasts": ["policy=mfbo", "policy.contrasts=true", "policy.gp.offset=true",
                               "policy.compare_alternative=false", *PLAIN],
            "mfbo_contrasts_only": ["policy=mfbo", "policy.contrasts=true"],
            # the initial design uniform on the simplex (mfbo's until 2026-12-06) instead of the Dirichlet range
            "mfbo_simplex": ["policy=mfbo", "policy.init_design=simplex"],
            # one GP per metric of a many-metric objective (mean-7: seven CEs), combined (``metrics_model``)
            "mfbo_independent": ["policy=mfbo", "policy.metrics_model=independent"],
            "mfkg_mfbo_model": ["policy=mfkg", *MFBO_MODEL], "mfmes_mfbo_model": ["policy=mfmes", *MFBO_MODEL]}


def make_policy(name: str, sized: bool = True):
    """The policy ``name`` (a conf/policy file or a ``VARIANTS`` label) with the benchmark's size overrides
    (``sized``), as ``bomix run`` would build it."""
    from bomix.bench.sweep import build_policy, policy_overrides

    return build_policy(policy_overrides(name, VARIANTS, SIZES if sized else {}),
                        name=name if name in VARIANTS else None)


def run_one(objective: str, policy: str, seed: int, budget: float, directory: str, mfms_path: str | None,
            max_runs: int | None = None) -> dict:
    """One campaign (resumes from ``directory`` when it holds an interrupted one)."""
    import torch

    torch.set_num_threads(1)
    from bomix.backends.mfms import MFMSBackend
    from bomix.campaign import ProblemConfig, run_campaign

    t0 = time.perf_counter()
    s = run_campaign(MFMSBackend(path=mfms_path), make_policy(policy), budget=budget, seed=seed,
                     max_runs=max_runs,
                     directory=directory, problem=ProblemConfig(objective=OBJECTIVES[objective]))
    return {"objective": objective, "policy": policy, "seed": seed, "regret": s["regret"],
            "n_runs": s["n_runs"], "wall_s": time.perf_counter() - t0}


def headline(summary: dict, best: str, eps: float) -> dict:
    """The issue's targets: speedups of ``best`` over the other policies at ``eps``, per objective."""
    out: dict = {}
    for r in summary["speedups"]:
        if r["policy"] == best and abs(r["eps"] - eps) < 1e-12:
            out.setdefault(str(r["objective"]), {})[r["over"]] = {"speedup": r["speedup"], "bound": r["bound"]}
    ctr = {}
    for r in summary["cost_to_reach"]:
        if abs(r["eps"] - eps) < 1e-12:
            ctr.setdefault(str(r["objective"]), {})[r["policy"]] = {k: v for k, v in r.items()
                                                                    if k not in ("backend", "objective", "eps")}
    return {"policy": best, "eps": eps, "speedups": out, "cost_to_reach": ctr,
            "targets": {"over_sfbo": 4.0, "over_mfms_ei": 2.0}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--policies", default="mfbo,mfms_ei,sfbo,mfkg,mfmes,hyperband,random,bimix")
    ap.add_argument("--objectives", default="stackexchange,mean7")
    ap.add_argument("--budget", type=float, default=6.0, help="target-run equivalents per campaign")
    ap.add_argument("--jobs", type=int, default=2, help="campaigns in parallel (processes)")
    ap.add_argument("--eps", default="0.01,0.005,0.002")
    ap.add_argument("--best", default="mfbo", help="the policy whose speedups the headline reports")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mfms_speedup"))
    ap.add_argument("--mfms-path", default=None, help="MFMS data (default: the backend's own lookup)")
    ap.add_argument("--max-runs", type=int, default=None,
                    help="stop each new campaign after this many runs (for the slow policies; their rows then "
                         "spend less than the budget)")
    args = ap.parse_args()
    from bomix.bench.sweep import check_names, policy_names

    asked = [p for p in args.policies.split(",") if p]
    policies = [*check_names([p for p in asked if p not in VARIANTS], policy_names(), "policy"),
                *[p for p in asked if p in VARIANTS]]
    objectives = check_names([o for o in args.objectives.split(",") if o], OBJECTIVES, "objective")
    out = Path(args.out)
    camp_root = out / "campaigns"
    jobs = []
    for o in objectives:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for p in policies:
                d = camp_root / o / p / f"seed{seed}"
                if not (d / "summary.json").exists():
                    jobs.append((o, p, seed, args.budget, str(d), args.mfms_path, args.max_runs))
    t0 = time.perf_counter()
    print(f"{len(jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    done = []
    from bomix.executors.parent_watch import die_with_parent, guard_args

    with ProcessPoolExecutor(max_workers=max(1, args.jobs), initializer=die_with_parent, initargs=guard_args()) as ex:
        futs = [ex.submit(run_one, *j) for j in jobs]
        for f in as_completed(futs):
            r = f.result()
            done.append(r)
            print(f"{r['objective']:>13} {r['policy']:>9} seed {r['seed']:>2}: regret {r['regret']:.4f}"
                  f" in {r['n_runs']} runs, {r['wall_s']:.0f} s", flush=True)
    wall = time.perf_counter() - t0

    from bomix.bench.aggregate import summarize
    from bomix.bench.plots import plot_cost_to_reach, plot_regret_curves

    eps = [float(e) for e in args.eps.split(",")]
    summary = summarize([camp_root], eps=eps)
    summary["wall_s_this_invocation"] = wall
    summary["campaign_wall_s"] = done
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    head = headline(summary, args.best, 0.005 if 0.005 in eps else eps[0])
    head["wall_s_this_invocation"] = wall
    head["settings"] = {"seeds": args.seeds, "budget": args.budget, "policies": policies, "max_runs": args.max_runs,
                        "objectives": objectives, "sizes": SIZES}
    (out / "headline.json").write_text(json.dumps(head, indent=1))
    plots = plot_regret_curves(summary, out) + plot_cost_to_reach(summary, out)
    print(json.dumps(head["speedups"], indent=1))
    print(f"wall time {wall:.0f} s; wrote {out / 'summary.json'}, {out / 'headline.json'}, "
          f"{len(plots)} plots", flush=True)


if __name__ == "__main__":
    main()
