"""How much do phases matter on the synthetic annealing law (bomix/backends/synthetic_phases.py)?

For each seed (K domains, ``anneal=c``, phase fractions ``--fractions``), at the target and at proxy fidelities:

- ``gap``: best static mixture's ``loss:target`` (``SyntheticBackend.optimum``) minus the best schedule's
  (``schedule_optimum``): what a phased search can win over a static one;
- ``tv_phases``: TV distance between the best schedule's phase mixtures; ``tv_static_first``: between the best
  static mixture and the best schedule's first phase;
- ``proxy_regret``: target regret (against the best schedule) of the schedule that is best at a proxy fidelity
  (is a proxy informative about the target's schedule?), and the same for the best static mixture;
- the speed of the vectorised truth (``schedule_values`` on 10k schedules).

Usage:
    python benchmarks/synthetic_phases.py [--seeds 10] [--k 6] [--anneal 0.25] [--fractions 0.8 0.2]
        [--out benchmarks/results/synthetic_phases]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bomix.backends.synthetic import SyntheticBackend
from bomix.fidelity import Fidelity

PROXIES = ("20M@2000", "60M@4000", "150M@8000", "300M@20000")


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(a - b).sum())


def one_seed(seed: int, k: int, anneal: float, fractions: np.ndarray) -> dict:
    """Every number of one seed (see the module docstring)."""
    b = SyntheticBackend(k=k, seed=seed, anneal=anneal)
    obj, target = b.default_objective, b.space.target
    t0 = time.perf_counter()
    static, v_static = b.optimum(obj)
    W, v = b.schedule_optimum(fractions, target, obj)
    row = {"seed": seed, "static_value": v_static, "schedule_value": v, "gap": v_static - v,
           "tv_phases": _tv(W[0], W[-1]), "tv_static_first": _tv(static.weights, W[0]),
           "schedule": W.round(4).tolist(), "static": static.weights.round(4).tolist(),
           "optimum_seconds": time.perf_counter() - t0, "proxies": {}}
    for name in PROXIES:
        fid = Fidelity.parse(name)
        Wp, vp = b.schedule_optimum(fractions, fid, obj)
        sp, vsp = b.optimum(obj, fid)
        row["proxies"][name] = {
            "gap": vsp - vp,
            "schedule_regret_at_target": float(b.schedule_values(Wp[None], fractions, target, obj)[0] - v),
            "static_regret_at_target": b.true_value(sp, target, obj) - v,
        }
    X = np.random.default_rng(seed).dirichlet(np.ones(k), (10000, fractions.size))
    t0 = time.perf_counter()
    b.schedule_values(X, fractions, target, obj)
    row["values_per_second"] = 10000 / (time.perf_counter() - t0)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--anneal", type=float, default=0.25)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.8, 0.2])
    ap.add_argument("--out", default="benchmarks/results/synthetic_phases")
    args = ap.parse_args()
    fr = np.array(args.fractions)
    rows = [one_seed(s, args.k, args.anneal, fr) for s in range(args.seeds)]
    print(f"K={args.k} anneal={args.anneal} fractions={fr.tolist()} (loss:target at the target, nats)")
    print("seed  static   schedule  gap     TV(phases)  TV(static, phase 1)")
    for r in rows:
        print(f"{r['seed']:>4}  {r['static_value']:.4f}  {r['schedule_value']:.4f}  {r['gap']:.4f}  "
              f"{r['tv_phases']:.3f}       {r['tv_static_first']:.3f}")
    gaps = np.array([r["gap"] for r in rows])
    tvs = np.array([r["tv_phases"] for r in rows])
    summary = {"k": args.k, "anneal": args.anneal, "fractions": fr.tolist(), "seeds": args.seeds,
               "gap_median": float(np.median(gaps)), "gap_min": float(gaps.min()), "gap_max": float(gaps.max()),
               "tv_median": float(np.median(tvs)), "tv_min": float(tvs.min()),
               "values_per_second_median": float(np.median([r["values_per_second"] for r in rows])),
               "proxies": {}}
    print(f"gap median {summary['gap_median']:.4f} (min {gaps.min():.4f}, max {gaps.max():.4f}); "
          f"TV median {summary['tv_median']:.3f} (min {tvs.min():.3f}); "
          f"schedule_values {summary['values_per_second_median']:.0f} schedules/s")
    print("proxy        gap(med)  target regret of its best schedule (med)  of its best static (med)")
    for name in PROXIES:
        p = {key: float(np.median([r["proxies"][name][key] for r in rows]))
             for key in ("gap", "schedule_regret_at_target", "static_regret_at_target")}
        summary["proxies"][name] = p
        print(f"{name:<12} {p['gap']:.4f}    {p['schedule_regret_at_target']:.4f}"
              f"                                    {p['static_regret_at_target']:.4f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"summary": summary, "seeds": rows}, indent=1))
    _plot(rows, summary, out / "gap.png")


def _plot(rows: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    seeds = [r["seed"] for r in rows]
    ax[0].bar(seeds, [r["gap"] for r in rows], color="tab:blue")
    ax[0].axhline(0.02, color="k", ls="--", lw=1, label="0.02 nats")
    ax[0].set(xlabel="seed", ylabel="best static - best schedule (nats)",
              title=f"gap at the target (K={summary['k']}, c={summary['anneal']})")
    ax[0].legend()
    width = 0.4
    x = np.arange(len(rows))
    ax[1].bar(x - width / 2, [r["tv_phases"] for r in rows], width, label="TV(phase 1, phase 2)")
    ax[1].bar(x + width / 2, [r["tv_static_first"] for r in rows], width, label="TV(static, phase 1)")
    ax[1].set(xlabel="seed", ylabel="TV distance", title="optima of the phases", ylim=(0, 1.35), xticks=x)
    ax[1].legend(loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
