"""The synthetic two-phase problem (issue 25, benchmark 3a): policies at equal budget, and does the recommended
schedule beat the best *static* mixture?

Problem: ``backend=synthetic problem=synthetic_phases`` (two phases, token fractions 0.8 / 0.2, the problem file's
``anneal``), ``backend.k=6``, the backend's default noise (``conf/backend/synthetic.yaml``). A seed ``s`` is the
problem instance *and* the campaign: ``backend.seed=s seed=s``. Every campaign is an ordinary resumable
``bomix run`` campaign (``bomix.bench.sweep``) under ``OUT/campaigns/<problem>/<policy>/seed<s>``, run one at a
time in this process (one torch thread). Measured per seed:

1. ``regret`` of each policy's final recommendation against the best *schedule* (the campaign's own ``regret``);
   median, IQR, min/max and the 90th percentile over seeds.
2. ``gap = static_best - true_value(recommended schedule)``: ``static_best`` is the best static mixture's value
   under the same law (``PhasedBackend.inner.optimum``); positive = the recommendation beats every static
   mixture. Also the oracle gap (best static - best schedule).
3. ``mfbo`` on the *static* problem (``problem=default``, same ``backend.anneal``, instance and budget): its regret
   against the best static mixture, and ``static_mfbo_true - phased_mfbo_true`` (positive = searching phases
   paid at equal budget).

``mfbo`` is capped (``--mfbo-init`` initial runs, then ``--mfbo-decisions`` decisions, the same on both
problems): a decision takes seconds on 2 shared cores and its default budget-sized design alone is 120 runs at
budget 3. Every other policy runs with its defaults. Writes ``OUT/phases.json`` and ``OUT/phases.png``.

Usage:
    python benchmarks/phases.py [--seeds 10] [--budget 3] [--policies mfbo,sfbo,random,regmix,uniform]
        [--mfbo-init 30] [--mfbo-decisions 20] [--no-static] [--check-determinism] [--out benchmarks/results/phases]
    (results committed: ``--seeds 10 --budget 3 --check-determinism``, and ``--policies mfbo --no-static
    --mfbo-decisions 40 --out benchmarks/results/phases/mfbo40``; see benchmarks/README.md)
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

K = 6
ANNEAL = 0.25  # conf/problem/synthetic_phases.yaml's synthetic.anneal (checked against it in main)
PHASED = ["backend=synthetic", "problem=synthetic_phases", f"backend.k={K}"]
STATIC = ["backend=synthetic", "problem=default", f"backend.k={K}", f"backend.anneal={ANNEAL}"]
POLICIES = ["mfbo", "sfbo", "random", "regmix", "uniform"]


def mfbo_settings(n_init: int, decisions: int) -> list[str]:
    """mfbo's non-default settings: a fixed initial design and a run cap (the same on both problems)."""
    return [f"policy.n_init={n_init}", f"max_runs={n_init + decisions}"]


def jobs_for(root: Path, label: str, problem: list[str], policies: dict[str, list[str]], seeds: range,
             budget: float) -> list:
    """One sweep job per (policy, seed) with ``backend.seed`` = campaign seed, under ``root/label/<policy>``."""
    from bomix.bench.sweep import grid

    return [j for s in seeds for j in grid(root, {label: [*problem, f"backend.seed={s}"]}, policies, [s], budget)]


def truth(seed: int) -> dict:
    """Ground truth of instance ``seed``: the best static mixture and the best schedule (values, weights)."""
    from bomix.app import build, compose
    from bomix.campaign import build_problem

    backend, _, _, pcfg, _ = build(compose([*PHASED, f"backend.seed={seed}", "policy=uniform"]))
    try:
        obj = build_problem(backend, pcfg).objective
        static, v_static = backend.inner.optimum(obj)
        sched, v_sched = backend.optimum(obj)
        return {"static_best": float(v_static), "schedule_best": float(v_sched),
                "oracle_gap": float(v_static - v_sched), "static_weights": static.weights.round(4).tolist(),
                "schedule_weights": backend.space.phase_mixtures(sched.weights[None])[0].round(4).tolist()}
    finally:
        backend.close()


def stats(x: list[float]) -> dict:
    """Median, quartiles, min/max, 90th percentile and n of ``x``."""
    a = np.asarray(x, dtype=float)
    q = np.percentile(a, [25, 50, 75, 90])
    return {"median": q[1], "q25": q[0], "q75": q[2], "p90": q[3], "min": a.min(), "max": a.max(), "n": a.size}


def run_all(jobs: list) -> dict[tuple[str, str, int], dict]:
    """Run (or resume) the jobs one at a time, print one line each; returns (problem, policy, seed) -> summary."""
    from bomix.bench.sweep import run_jobs

    for r in run_jobs(jobs, n_jobs=1):
        head = f"{r['backend']:>7} {r['policy']:>8} seed {r['seed']}"
        bad = r.get("crash") or r.get("error")
        print(f"{head}: FAILED: {bad}" if bad else
              f"{head}: regret {r['regret']:.4f}, cost {r['budget_used']:.3f} in {r['n_runs']} runs, "
              f"{r['wall_s']:.0f} s", flush=True)
    out = {}
    for j in jobs:
        f = Path(j.directory) / "summary.json"
        if f.exists():
            out[(j.labels["backend"], j.labels["policy"], int(j.labels["seed"]))] = json.loads(f.read_text())
    return out


def seed_row(s: int, t: dict, res: dict, policies: list[str]) -> dict:
    """One seed's truth, each policy's regret / true value / gap, and mfbo on the static problem."""
    row = {"seed": s, **t, "policies": {}}
    for p in policies:
        r = res.get(("phased", p, s))
        if r is not None:
            row["policies"][p] = {"regret": r["regret"], "true_value": r["true_value"],
                                  "gap": t["static_best"] - r["true_value"], "n_runs": r["n_runs"],
                                  "budget_used": r["budget_used"], "optimum_value": r["optimum_value"],
                                  "fidelities": r.get("fidelities")}
    st = res.get(("static", "mfbo", s))
    if st is not None:
        row["static_mfbo"] = {"regret": st["regret"], "true_value": st["true_value"],
                              "optimum_value": st["optimum_value"], "n_runs": st["n_runs"],
                              "budget_used": st["budget_used"],
                              "optimum_is_static_best": abs(st["optimum_value"] - t["static_best"]) < 1e-9}
        if "mfbo" in row["policies"]:
            row["static_minus_phased_mfbo"] = st["true_value"] - row["policies"]["mfbo"]["true_value"]
    return row


def aggregate(per_seed: list[dict], policies: list[str]) -> tuple[dict, dict | None]:
    """Per policy: regret and gap statistics, seeds with gap > 0, median runs and cost; and mfbo on the static
    problem (its regret against the best static, its gap, static - phased mfbo true values)."""
    table = {}
    for p in policies:
        rows = [r["policies"][p] for r in per_seed if p in r["policies"]]
        if rows:
            gaps = [x["gap"] for x in rows]
            table[p] = {"regret": stats([x["regret"] for x in rows]), "gap": stats(gaps),
                        "gap_positive": int(sum(g > 0 for g in gaps)),
                        "n_runs_median": float(np.median([x["n_runs"] for x in rows])),
                        "budget_used_median": float(np.median([x["budget_used"] for x in rows]))}
    st_rows = [r for r in per_seed if "static_mfbo" in r]
    if not st_rows:
        return table, None
    d = [r["static_minus_phased_mfbo"] for r in st_rows if "static_minus_phased_mfbo" in r]
    return table, {"regret_vs_best_static": stats([r["static_mfbo"]["regret"] for r in st_rows]),
                   "gap": stats([r["static_best"] - r["static_mfbo"]["true_value"] for r in st_rows]),
                   "static_minus_phased_mfbo": stats(d) if d else None, "phased_better": int(sum(x > 0 for x in d))}


def campaign_walls(res: dict) -> dict:
    """Per problem and policy: the campaigns' own wall times (``summary.json``'s ``wall_time``), total and
    median (the sweep may have run over several invocations)."""
    out: dict = {}
    for (b, p, _), r in res.items():
        out.setdefault(f"{b}/{p}", []).append(float(r.get("wall_time") or 0.0))
    return {k: {"total": sum(v), "median": float(np.median(v))} for k, v in out.items()}


def check_determinism(jobs: list, res: dict) -> dict:
    """Re-run the first job in a temporary folder: the same seed must give the same campaign."""
    import dataclasses
    import tempfile

    from bomix.bench.sweep import run_job

    j = jobs[0]
    first = res[(j.labels["backend"], j.labels["policy"], int(j.labels["seed"]))]
    with tempfile.TemporaryDirectory() as d:
        again = run_job(dataclasses.replace(j, directory=str(Path(d) / "again")))
    same = again.get("regret") == first["regret"] and again.get("n_runs") == first["n_runs"]
    print(f"determinism: {j.labels} re-run regret {again.get('regret')} vs {first['regret']}: "
          f"{'identical' if same else 'DIFFERENT'}", flush=True)
    return {"job": dict(j.labels), "regret": first["regret"], "rerun_regret": again.get("regret"), "identical": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=3.0, help="target-run equivalents per campaign")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--mfbo-init", type=int, default=30)
    ap.add_argument("--mfbo-decisions", type=int, default=20)
    ap.add_argument("--no-static", action="store_true", help="skip mfbo on the static problem (item 3)")
    ap.add_argument("--check-determinism", action="store_true",
                    help="re-run the first seed's first phased campaign in a temporary folder and compare")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "phases"))
    args = ap.parse_args()
    import torch
    from omegaconf import OmegaConf

    from bomix.bench.sweep import check_names, policy_names

    torch.set_num_threads(1)
    conf_anneal = OmegaConf.load(ROOT / "conf" / "problem" / "synthetic_phases.yaml").synthetic.anneal
    if conf_anneal != ANNEAL:
        raise SystemExit(f"conf/problem/synthetic_phases.yaml has anneal {conf_anneal}, this script {ANNEAL}: "
                         "update ANNEAL in benchmarks/phases.py")
    policies = check_names([p for p in args.policies.split(",") if p], policy_names(), "policy")
    mf = mfbo_settings(args.mfbo_init, args.mfbo_decisions)
    pol = {p: [f"policy={p}", *(mf if p == "mfbo" else [])] for p in policies}
    out, seeds = Path(args.out), range(args.seeds)
    root = out / "campaigns"
    jobs = jobs_for(root, "phased", PHASED, pol, seeds, args.budget)
    if not args.no_static:
        jobs += jobs_for(root, "static", STATIC, {"mfbo": pol.get("mfbo", ["policy=mfbo", *mf])}, seeds, args.budget)
    jobs.sort(key=lambda j: int(j.labels["seed"]))  # seed by seed: an interrupted sweep has whole seeds
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()
    print(f"{sum(not j.done for j in jobs)} of {len(jobs)} campaigns to run, one at a time", flush=True)
    res = run_all(jobs)
    wall = time.perf_counter() - t0
    truths = {s: truth(s) for s in seeds}
    per_seed = [seed_row(s, truths[s], res, policies) for s in seeds]
    table, static = aggregate(per_seed, policies)
    determinism = check_determinism(jobs, res) if args.check_determinism else None
    oracle = stats([t["oracle_gap"] for t in truths.values()])
    settings = {"k": K, "anneal": ANNEAL, "fractions": [0.8, 0.2], "noise": "conf/backend/synthetic.yaml defaults",
                "budget": args.budget, "seeds": args.seeds, "phased_overrides": PHASED, "static_overrides": STATIC,
                "policy_overrides": pol, "git": git_state(),
                "non_default": {"mfbo": mf} if "mfbo" in pol or not args.no_static else {}}
    result = {"command": "python " + " ".join(sys.argv), "settings": settings, "policies": table,
              "static_mfbo": static, "oracle_gap": oracle, "determinism": determinism, "per_seed": per_seed,
              "wall_s": wall, "campaign_wall_s": campaign_walls(res),
              "parent_cpu_s": time.process_time() - c0, "load_avg_start": load0, "load_avg_end": os.getloadavg()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "phases.json").write_text(json.dumps(result, indent=1, default=float))
    report(result)
    plot(result, out / "phases.png")
    print(f"wall {wall:.0f} s; wrote {out / 'phases.json'}, {out / 'phases.png'}")


def report(r: dict) -> None:
    """Print the settings and the three tables."""
    s = r["settings"]
    print(f"K={s['k']} anneal={s['anneal']} fractions {s['fractions']}, budget {s['budget']} target-run equivalents, "
          f"{s['seeds']} seeds; non-default: {s['non_default']}")
    print("policy    regret vs best schedule: median [q25, q75] (min, max) p90 | gap = static_best - true: median "
          "(seeds > 0) | runs | cost")
    for p, t in sorted(r["policies"].items(), key=lambda kv: kv[1]["regret"]["median"]):
        g, q = t["regret"], t["gap"]
        print(f"{p:9s} {g['median']:.4f} [{g['q25']:.4f}, {g['q75']:.4f}] ({g['min']:.4f}, {g['max']:.4f}) "
              f"{g['p90']:.4f} | {q['median']:+.4f} ({t['gap_positive']}/{q['n']}) | {t['n_runs_median']:.0f} | "
              f"{t['budget_used_median']:.3f}")
    o = r["oracle_gap"]
    print(f"oracle gap (best static - best schedule): median {o['median']:.4f} (min {o['min']:.4f}, "
          f"max {o['max']:.4f})")
    st = r["static_mfbo"]
    if st:
        g = st["regret_vs_best_static"]
        print(f"mfbo on the static problem: regret vs best static median {g['median']:.4f} [{g['q25']:.4f}, "
              f"{g['q75']:.4f}] p90 {g['p90']:.4f}")
        d = st["static_minus_phased_mfbo"]
        if d:
            print(f"static mfbo true - phased mfbo true: median {d['median']:+.4f} [{d['q25']:+.4f}, "
                  f"{d['q75']:+.4f}] "
                  f"(phased better on {st['phased_better']}/{d['n']} seeds)")
    print("seed  oracle_gap " + " ".join(f"{p:>8s}" for p in r["policies"]) + "  (gap per policy)  static-mfbo")
    for row in r["per_seed"]:
        cells = " ".join(f"{row['policies'][p]['gap']:+8.4f}" if p in row["policies"] else f"{'-':>8s}"
                         for p in r["policies"])
        sm = row.get("static_minus_phased_mfbo")
        print(f"{row['seed']:>4}  {row['oracle_gap']:.4f}     {cells}  {'' if sm is None else f'{sm:+.4f}'}")


def plot(r: dict, path: Path) -> None:
    """Left: final regret per policy (seeds as dots, median bar). Middle: per-seed gap of each policy's
    schedule over the best static mixture, and the oracle gap. Right: static vs phased mfbo per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pols = sorted(r["policies"], key=lambda p: r["policies"][p]["regret"]["median"])
    seeds = [row["seed"] for row in r["per_seed"]]
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.6))
    rng = np.random.default_rng(0)
    for i, p in enumerate(pols):
        y = [row["policies"][p]["regret"] for row in r["per_seed"] if p in row["policies"]]
        ax[0].scatter(i + rng.uniform(-0.12, 0.12, len(y)), y, s=14, alpha=0.7)
        ax[0].hlines(np.median(y), i - 0.3, i + 0.3, color="k")
        ax[0].hlines(np.percentile(y, 90), i - 0.2, i + 0.2, color="k", ls=":")
    ax[0].set_xticks(range(len(pols)), pols)
    ax[0].set_yscale("log")
    ax[0].set(ylabel="regret vs best schedule (nats)",
              title=f"final regret, budget {r['settings']['budget']:g} (median —, p90 ···)")
    ax[0].grid(alpha=0.3, which="both", axis="y")
    width = 0.8 / (len(pols) + 1)
    x = np.arange(len(seeds))
    ax[1].bar(x, [row["oracle_gap"] for row in r["per_seed"]], 0.85, color="0.85", label="oracle (best schedule)")
    for i, p in enumerate(pols):
        gaps = [row["policies"].get(p, {}).get("gap", np.nan) for row in r["per_seed"]]
        ax[1].bar(x - 0.4 + (i + 0.5) * width, gaps, width, label=p)
    ax[1].axhline(0, color="k", lw=0.8)
    ax[1].set(xlabel="seed", ylabel="best static - true value (nats)", xticks=x,
              title="recommended schedule vs best static mixture (> 0: beats it)")
    ax[1].legend(fontsize=7, ncol=2)
    _clip(ax[1], -0.12)
    st = [row for row in r["per_seed"] if "static_minus_phased_mfbo" in row]
    if st:
        ax[2].bar([row["seed"] for row in st], [row["static_minus_phased_mfbo"] for row in st], color="tab:green")
        ax[2].axhline(0, color="k", lw=0.8)
        ax[2].set(xlabel="seed", ylabel="static mfbo true - phased mfbo true (nats)", xticks=seeds,
                  title="mfbo: phased vs static search (> 0: phases paid)")
        _clip(ax[2], -0.08)
    else:
        ax[2].axis("off")
        ax[2].text(0.5, 0.5, "mfbo on the static problem not run (--no-static)", ha="center", transform=ax[2].transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _clip(ax, bottom: float) -> None:
    """Clip the y axis at ``bottom`` (if the bars go lower) and print each clipped bar's value at the axis."""
    if ax.get_ylim()[0] >= bottom:
        return
    ax.set_ylim(bottom=bottom)
    for bar in ax.patches:
        if bar.get_height() < bottom:
            ax.annotate(f"{bar.get_height():.3f}", (bar.get_x() + bar.get_width() / 2, bottom), xytext=(0, 3),
                        textcoords="offset points", ha="center", fontsize=7, rotation=90)


if __name__ == "__main__":
    main()
