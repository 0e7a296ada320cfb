"""Many domains, many cheap runs (issue 23 item 1): mfbo against random, RegMix, Hyperband and uniform weights on
the synthetic backend with 32 and 64 domains, at equal budget.

The ladder has three rungs, ``SCALES`` (4M / 60M / 1B parameters), on the space's default step grid
(500 / 5000 / 10000 / 20000 steps), so the cheapest run, 4M@500, costs 1e-4 of the target run (1B@20000;
``bomix.cost.FlopsCost``: 6 N steps tokens). Campaigns are ordinary resumable ``bomix run`` campaigns
(``bomix.bench.sweep``) under ``OUT/campaigns/<backend>/<policy>/seed<k>``, aggregated with ``bomix.bench``;
the script writes ``OUT/comparison.{json,md}``, ``OUT/summary.json``, the regret-vs-cost PNGs, and
``OUT/final_regret.png`` (median final target regret with its IQR per policy, one panel per K).

mfbo's decisions take seconds each at these sizes, so its runs are capped (``MFBO_MAX_RUNS``: its budget-sized
initial design at 4M@500, then ``--mfbo-decisions`` decisions); random search runs at 60M@5000 (``RANDOM``); the
other policies run as configured. Each K is aggregated on its own (``OUT/k<K>/``: the stores all name their
backend ``synthetic``).

Usage: python benchmarks/many_domains.py [--k 32,64] [--seeds 5] [--budget 0.5] [--policies ...] [--jobs 2]
    [--mfbo-decisions 10] [--set policy.gp.posterior_chunk=256 ...] [--out benchmarks/results/many_domains]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder_replay import git_state  # noqa: E402
from policy_comparison import overrides, run_and_print, table, write_comparison  # noqa: E402

#: the three-rung ladder (name -> parameters); with the default step grid 4M@500 costs 1e-4 of 1B@20000
SCALES = {"4M": 4e6, "60M": 6e7, "1B": 1e9}
POLICIES = ["uniform", "random", "regmix", "hyperband", "mfbo"]
#: random search runs at a mid proxy (its default, the target, costs a whole budget-1): 60M@5000 costs 0.015
RANDOM = ["policy.scale=60M", "policy.steps=5000"]
#: mfbo's decisions after its initial design (its run cap is the design plus these)
MFBO_DECISIONS = 10


def mfbo_max_runs(k: int, budget: float, decisions: int) -> int:
    """mfbo's run cap: its budget-sized initial design at 4M@500 (``GPPolicy.n_initial``) plus ``decisions``."""
    from bomix.policies.bo.base import INIT_BUDGET_FRACTION, INIT_MIN_PER_DOMAIN

    cheapest = SCALES["4M"] * 500 / (SCALES["1B"] * 20000)
    n_init = int(np.clip(round(INIT_BUDGET_FRACTION * budget / cheapest), INIT_MIN_PER_DOMAIN * k + 2, 500))
    return n_init + decisions


def backend_overrides(k: int) -> list[str]:
    """``bomix run`` overrides of the synthetic backend with ``k`` domains on :data:`SCALES`."""
    scales = ",".join(f"{n}:{p:.0f}" for n, p in SCALES.items())
    return ["backend=synthetic", f"backend.k={k}", f"+backend.scales={{{scales}}}"]


def plot_finals(rows: list[dict], path: Path) -> None:
    """Median final regret with IQR bars and the p90 (where known) per policy, one panel per backend (log y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = sorted({r["backend"] for r in rows})
    fig, axes = plt.subplots(1, len(backends), figsize=(5.5 * len(backends), 4.2), squeeze=False)
    for ax, b in zip(axes[0], backends):
        rs = sorted([r for r in rows if r["backend"] == b and r["regret_median"] is not None],
                    key=lambda r: r["regret_median"])
        x = range(len(rs))
        med = [r["regret_median"] for r in rs]
        lo = [r["regret_median"] - r["regret_q25"] for r in rs]
        hi = [r["regret_q75"] - r["regret_median"] for r in rs]
        ax.errorbar(x, med, yerr=[lo, hi], fmt="o", capsize=5, color="tab:blue", label="median [IQR]")
        p90 = [(i, r["regret_p90"]) for i, r in enumerate(rs) if r.get("regret_p90") is not None]
        if p90:
            ax.plot(*zip(*p90), "v", color="tab:red", label="p90 over seeds")
            ax.legend(fontsize=7)
        for i, r in enumerate(rs):
            ax.annotate(f"{r['regret_median']:.3g}", (i, r["regret_median"]), textcoords="offset points",
                        xytext=(8, 0), fontsize=8)
        ax.set_xticks(list(x), [f"{r['policy']}\n({r['n_seeds']} seeds)" for r in rs], fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"{b}: final target regret (median, IQR, p90)", fontsize=10)
        ax.grid(alpha=0.3, which="both", axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", default="32,64", help="comma-separated domain counts")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0.5, help="target-run equivalents per campaign")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--mfbo-decisions", type=int, default=MFBO_DECISIONS)
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for mfbo, e.g. policy.gp.posterior_chunk=256")
    ap.add_argument("--eps", default="0.05,0.02,0.01")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "many_domains"))
    args = ap.parse_args()
    from bomix.bench.aggregate import summarize
    from bomix.bench.sweep import grid

    ks = [int(k) for k in args.k.split(",") if k]
    policies = [p for p in args.policies.split(",") if p]
    out = Path(args.out)
    root = out / "campaigns"
    jobs, pol_over = [], {}
    for k in ks:
        over = {p: overrides(p) for p in policies}
        if "random" in over:
            over["random"] += RANDOM
        if "mfbo" in over:
            over["mfbo"] = [o for o in over["mfbo"] if not o.startswith("max_runs=")] + \
                [f"max_runs={mfbo_max_runs(k, args.budget, args.mfbo_decisions)}", *args.set]
        pol_over[k] = over
        jobs += grid(root, {f"synthetic-k{k}": backend_overrides(k)}, over, range(args.seeds), args.budget)
    jobs.sort(key=lambda j: (j.labels["policy"] != "mfbo", -int(j.labels["backend"].split("-k")[1]),
                             int(j.labels["seed"])))  # the slow ones first
    t0, c0 = time.perf_counter(), time.process_time()
    load0 = os.getloadavg()
    print(f"{sum(not j.done for j in jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    errors: dict = {}
    results = list(run_and_print(jobs, args.jobs, errors))
    wall = time.perf_counter() - t0
    eps = [float(e) for e in args.eps.split(",")]
    all_rows = []
    for k in ks:
        label = f"synthetic-k{k}"
        summary = summarize([root / label], eps=eps)
        rows, md = table(summary, errors, eps)
        for r in rows:
            r["backend"] = label
        all_rows += rows
        settings = {"k": k, "scales": SCALES, "budget": args.budget, "seeds": args.seeds, "policies": pol_over[k],
                    "cheapest_cost": SCALES["4M"] * 500 / (SCALES["1B"] * 20000), "git": git_state()}
        write_comparison(out / f"k{k}", summary,
                         {"rows": rows, "settings": settings, "wall_s": wall, "load_avg_start": load0,
                          "load_avg_end": os.getloadavg(),
                          "campaign_wall_s": [r for r in results if r.get("backend") == label]},
                         f"## {label}\n\n{md}", wall)
    plot_finals(all_rows, out / "final_regret.png")
    (out / "final_regret.json").write_text(json.dumps({"rows": all_rows, "wall_s": wall,
                                                       "load_avg_start": load0, "load_avg_end": os.getloadavg(),
                                                       "parent_cpu_s": time.process_time() - c0,
                                                       "command": " ".join(sys.argv)}, indent=1))
    print(f"wrote {out / 'final_regret.png'}, {out / 'final_regret.json'}")


if __name__ == "__main__":
    main()
