"""Every policy on the MFMS, RegMix and synthetic simulators at the same budget: final regret and cost, per seed.

Campaigns are ordinary resumable ``bomix run`` campaigns (``bomix.bench.sweep``) under
``OUT/campaigns/<backend>/<policy>/seed<k>``; a finished one is skipped, an interrupted one resumes.
The script aggregates them with ``bomix.bench`` and writes ``OUT/summary.json``,
``OUT/comparison.json`` (per backend and policy: median final regret and its quartiles, median cost
spent, cost to reach regret <= eps) and ``OUT/comparison.md`` (the same as a table) plus PNG plots.

Policies are their conf/policy/<name>.yaml configs with the benchmark's size overrides (``SIZES``):
smaller acquisition-optimiser budgets so that decisions stay around a second on 2 busy cores.
A policy that does not apply to a problem (e.g. BiMix without a loss metric for every domain) is
listed with its one-line reason.

Usage:
    python benchmarks/policy_comparison.py [--seeds 5] [--budget 3] [--backends mfms,regmix,synthetic]
        [--policies all|name,...] [--jobs 2]   (names: conf/policy files, or a variant: regmix512) [--out benchmarks/results/policy_comparison]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
BACKENDS = {
    "mfms": ["backend=mfms", "problem=mfms_stackexchange"],
    "regmix": ["backend=regmix", "problem=regmix_pilecc"],
    "synthetic": ["backend=synthetic"],
}
POLICIES = ["uniform", "proportional", "random", "dml", "bimix", "autoscale", "dcpt", "regmix", "regmix_linear", "sft_law",
            "shukor", "hyperband", "sfbo", "mfms_ei", "mfkg", "mfmes", "mfbo"]
# Variants run next to the plain configs: label -> overrides (RegMix's own recipe: 512 runs at its smallest proxy;
# mfbo_plain: mfbo's model without the level and invariant kernels, law shifts started mid-bounds, i.e. mfbo
# before 2026-12-01 session 3, no cold starts; mfbo_warm_only: no cold starts; mfbo_no_level: no cold starts, no
# level kernel). A variant gets the size overrides of the policy it names.
VARIANTS = {"regmix512": ["policy=regmix", "policy.n_runs=512"],
            "mfbo_plain": ["policy=mfbo", "policy.gp.level=false", "policy.gp.invariant=false",
                           "policy.gp.law_shift_init=null", "policy.gp.cold_start=false"],
            "mfbo_warm_only": ["policy=mfbo", "policy.gp.cold_start=false"],
            "mfbo_no_level": ["policy=mfbo", "policy.gp.level=false", "policy.gp.cold_start=false"]}
# max_runs caps the model-based policies' decisions (1-4 s each on 2 busy cores): on RegMix the 1M proxy costs
# 4e-5 of a target run, so without a cap they would make hundreds of decisions within the budget.
SIZES = {
    "mfbo": ["max_runs=250"],  # its optimiser sizes are the defaults
    "mfkg": ["policy.search.raw_samples=24", "policy.num_fantasies=4", "policy.target_set=32",
             "policy.gp.maxiter=40", "policy.max_obs=120", "policy.max_per_run=3", "max_runs=40"],
    "mfmes": ["policy.search.raw_samples=32", "policy.search.iters=5", "policy.candidate_set=128",
              "policy.gp.maxiter=40", "policy.max_obs=120", "policy.max_per_run=3", "max_runs=40"],
    "sfbo": ["policy.search.raw_samples=128", "policy.search.starts=3", "policy.search.iters=15",
             "policy.gp.maxiter=40", "max_runs=60"],
    "mfms_ei": ["policy.search.raw_samples=64", "policy.restarts=3", "policy.gp.maxiter=50", "policy.max_obs=150",
                "max_runs=60"],
}


def overrides(label: str) -> list[str]:
    """Hydra overrides of a policy or variant label: its config (or the variant's), then the size overrides."""
    from bomix.bench.sweep import policy_overrides

    return policy_overrides(label, VARIANTS, SIZES)


def table(summary: dict, errors: dict, eps: list[float]) -> tuple[list[dict], str]:
    """Rows (backend, policy, median/IQR final regret, median cost, cost to reach eps) and a markdown table."""
    fin = summary["final"]
    ctr = {(r["backend"], r["policy"], r["eps"]): r for r in summary["cost_to_reach"]}
    rows = []
    for r in fin:
        row = {"backend": r["backend"], "policy": r["policy"], "n_seeds": r.get("n_seeds"),
               "regret_median": r.get("regret_median"), "regret_q25": r.get("regret_q25"),
               "regret_q75": r.get("regret_q75"), "regret_p90": r.get("regret_p90"),
               "cost_median": r.get("cost_median")}
        for e in eps:
            c = ctr.get((r["backend"], r["policy"], e), {})
            row[f"cost_to_{e:g}"] = c.get("median")
            row[f"reached_{e:g}"] = c.get("n_reached")
            row[f"censored_{e:g}"] = bool(c.get("censored", False))
            row[f"first_touch_{e:g}"] = c.get("first_median")  # secondary: first recommendation <= eps
        rows.append(row)
    rows.sort(key=lambda r: (r["backend"], r["regret_median"] if r["regret_median"] is not None else np.inf))
    head = ["backend", "policy", "seeds", "final regret median [q25, q75]", "cost used"] + \
        [f"cost to stay at regret<={e:g} (seeds reached; >= = most never did)" for e in eps] + \
        [f"first touch regret<={e:g} (secondary)" for e in eps]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda x: "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.4g}"  # noqa: E731
    for r in rows:
        cells = [r["backend"], r["policy"], str(r["n_seeds"]),
                 f"{fmt(r['regret_median'])} [{fmt(r['regret_q25'])}, {fmt(r['regret_q75'])}]", fmt(r["cost_median"])]
        cells += [f"{'>=' if r[f'censored_{e:g}'] else ''}{fmt(r[f'cost_to_{e:g}'])} ({r[f'reached_{e:g}']})"
                  for e in eps]
        cells += [fmt(r[f"first_touch_{e:g}"]) for e in eps]
        lines.append("| " + " | ".join(cells) + " |")
    for (b, p), msg in sorted(errors.items()):
        lines.append(f"| {b} | {p} | 0 | not applicable: {msg} | - |" + " - |" * (2 * len(eps)))
    return rows, "\n".join(lines)


def checked_policies(text: str, everything: list[str]) -> list[str]:
    """``--policies`` (``all`` = ``everything``, or comma-separated conf/policy names and ``VARIANTS`` labels),
    each checked."""
    from bomix.bench.sweep import check_names, policy_names

    asked = everything if text == "all" else [p for p in text.split(",") if p]
    return [*check_names([p for p in asked if p not in VARIANTS], policy_names(), "policy"),
            *[p for p in asked if p in VARIANTS]]


def run_and_print(jobs, n_jobs: int, errors: dict):
    """Run the sweep's jobs, print one line per campaign, record a not-applicable policy's reason in
    ``errors[(backend, policy)]``; yields each result."""
    from bomix.bench.sweep import run_jobs

    for r in run_jobs(jobs, n_jobs):
        head = f"{r['backend']:>7} {r['policy']:>13} seed {r['seed']}"
        if "crash" in r:
            print(f"{head}: CRASHED: {r['crash']}", flush=True)
        elif "error" in r:
            errors[(r["backend"], r["policy"])] = r["error"]
            print(f"{head}: not applicable: {r['error']}", flush=True)
        else:
            print(f"{head}: regret {r['regret']:.4f}, cost {r['budget_used']:.3f} in {r['n_runs']} runs, "
                  f"{r['wall_s']:.0f} s", flush=True)
        yield r


def write_comparison(out: Path, summary: dict, comparison: dict, md: str, wall: float) -> None:
    """``OUT/summary.json``, ``OUT/comparison.json`` (``comparison``), ``OUT/comparison.md`` and the regret plots."""
    from bomix.bench.plots import plot_regret_curves

    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "comparison.json").write_text(json.dumps(comparison, indent=1))
    (out / "comparison.md").write_text(md + "\n")
    plots = plot_regret_curves(summary, out)
    print(md)
    print(f"wall time {wall:.0f} s; wrote {out / 'comparison.json'}, {out / 'comparison.md'}, {len(plots)} plots")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=3.0, help="target-run equivalents per campaign")
    ap.add_argument("--backends", default="mfms,regmix")
    ap.add_argument("--policies", default="all")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--eps", default="0.02,0.01,0.005")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "policy_comparison"))
    args = ap.parse_args()
    from bomix.bench.aggregate import summarize
    from bomix.bench.sweep import check_names, grid

    policies = checked_policies(args.policies, [*POLICIES, *VARIANTS])
    backends = check_names([b for b in args.backends.split(",") if b], BACKENDS, "backend")
    out = Path(args.out)
    root = out / "campaigns"
    jobs = grid(root, {b: BACKENDS[b] for b in backends},
                {p: overrides(p) for p in policies}, range(args.seeds),
                args.budget)
    errors_file = out / "not_applicable.json"
    errors = {tuple(k.split("/")): v for k, v in json.loads(errors_file.read_text()).items()} \
        if errors_file.exists() else {}
    jobs = [j for j in jobs if (j.labels["backend"], j.labels["policy"]) not in errors]
    t0 = time.perf_counter()
    print(f"{sum(not j.done for j in jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    walls = []
    for r in run_and_print(jobs, args.jobs, errors):
        walls.append(r)
        if "crash" in r:
            continue
        out.mkdir(parents=True, exist_ok=True)
        errors_file.write_text(json.dumps({"/".join(k): v for k, v in errors.items()}, indent=1))
    wall = time.perf_counter() - t0
    eps = [float(e) for e in args.eps.split(",")]
    summary = summarize([root], eps=eps)
    summary["wall_s_this_invocation"] = wall
    summary["campaign_wall_s"] = walls
    rows, md = table(summary, errors, eps)
    settings = {"seeds": args.seeds, "budget": args.budget, "backends": {b: BACKENDS[b] for b in backends},
                "policies": policies, "sizes": SIZES}
    write_comparison(out, summary, {"rows": rows, "not_applicable": {"/".join(k): v for k, v in errors.items()},
                                    "settings": settings, "wall_s": wall}, md, wall)


if __name__ == "__main__":
    main()
