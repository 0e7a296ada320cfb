"""Multi-objective mode: hypervolume regret of ``mobo`` vs ``random`` vs a scalarised ``mfbo`` at equal budgets.

Problems: ``problem=synthetic_moo`` (synthetic backend with ``tasks=3``; objectives ``code`` = accuracy ``task:0``
maximised and ``web`` = bits per byte ``task:1`` minimised, preference 0.7 / 0.3) and ``problem=synthetic_moo3``, the
same with a third objective ``math`` = accuracy ``task:2`` (equal preference). The scalar ``problem.objective`` (what
``mfbo`` optimises and what the campaign's ordinary regret measures) is the preference-weighted relative change
against the uniform mixture.

Policies, same budget and seeds:

- ``mobo``: one GP per objective, qLogNEHVI at the target, fidelity by information per cost; scored on its predicted
  Pareto set.
- ``mfbo``: the scalarised problem (``problem.objective``); scored on the mixtures it ran at the target plus every
  mixture it recommended (its "front").
- ``random``: Dirichlet mixtures at the target; scored on its evaluated points.

Score: ``hv_regret`` = HV(true front) - HV(the set's TRUE objective vectors), both normalised by the true front's
ideal/nadir, reference 1.1 (:mod:`bomix.pareto`; the true front by dense sampling of the noiseless metrics). mobo and
mfbo may run a near-target proxy (300M at the target's steps, 0.3 of a target run) and the target, with mfbo's GP
preset (``--light-gp``: a product kernel alone, 20 L-BFGS iterations) and a small acquisition search so the
benchmark fits 2 shared cores (stated in the JSON).

``--problem regmix``: the RegMix simulator's trade-off ``backend=regmix problem=regmix_code_web`` (2 objectives: the
mean relative change of the code-like losses, GitHub / StackExchange / DM Mathematics, and of the web/books-like
ones, Pile-CC / Wikipedia / PG-19, against the Pile's own mixture). mobo and mfbo run proxies at 1M@1000 and 60M@1000
and the target 1B@23842 from a 32-run initial design at 1M, 8 runs at a time (4 decisions); budget 2 target runs,
64 runs; ``random`` gets the same budget, i.e. 2 runs at 1B. The truth at 1B is the simulator's model: a mixture
outside its trust region (64 logged 1B mixtures) is scored by extrapolation; each row gives the share of its Pareto
set outside it (``set_extrapolated``) and whether the recommendation is.

Usage:
    python benchmarks/multi_objective.py [--problem synthetic|regmix] [--seeds 10] [--budget 4] [--max-runs 16]
        [--problems 2 3] [--light-gp] [--out benchmarks/results/multi_objective]
        (regmix: budget 2, 64 runs, 2 objectives, out .../multi_objective/regmix)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
#: the problems by number of objectives (overrides on top of problem=synthetic_moo)
PROBLEMS = {
    2: ["problem=synthetic_moo"],
    3: ["problem=synthetic_moo3"],
}
#: model-based policies: a near-target proxy and the target, a budget-independent initial design, small search
MODEL = ["policy.fidelities=[300M@20000,1B@20000]", "policy.n_init=4", "policy.search.raw_samples=64",
         "policy.search.starts=2", "policy.search.iters=10"]
#: ``--light-gp``: a product kernel alone for both model-based policies (mfbo's preset costs seconds per fit here)
LIGHT_GP = ["policy.gp.law=false", "policy.gp.level=false", "policy.gp.invariant=false",
            "policy.gp.cold_start=false", "policy.gp.maxiter=20"]


def policies(model: list[str]) -> dict[str, list[str]]:
    """The three policies' overrides, the model-based ones on ``model`` (fidelities, initial design, search)."""
    return {"mobo": ["policy=mobo", *model, "policy.mc_samples=32", "policy.n_candidates=256"],
            "mfbo": ["policy=mfbo", *model],
            "random": ["policy=random"]}


POLICIES = policies(MODEL)
#: --problem: the problems by number of objectives, the model-based policies' settings, the default budget and run
#: cap, overrides every campaign adds, and the results' subfolder
SETS = {
    "synthetic": {"problems": PROBLEMS, "model": MODEL, "budget": 4.0, "max_runs": 16, "extra": [], "out": ""},
    "regmix": {"problems": {2: ["backend=regmix", "problem=regmix_code_web"]},
               "model": ["policy.fidelities=[1M@1000,60M@1000,1B@23842]", "policy.n_init=32", *MODEL[2:]],
               "budget": 2.0, "max_runs": 64, "extra": ["batch_size=8"], "out": "regmix"},
}


def run_one(overrides: list[str]) -> dict:
    """One campaign in a temporary directory; returns its summary (with the plot's bytes kept aside)."""
    from bomix.app import compose, run_from_config

    with tempfile.TemporaryDirectory() as d:
        s = run_from_config(compose(overrides), d)
        png = Path(d) / "pareto.png"
        s["_png"] = png.read_bytes() if png.exists() else None
        return s


def extrapolation(backend, s: dict) -> dict:
    """With a simulator that has a trust region: the share of the campaign's Pareto set scored outside it, and
    whether its recommendation is (``{}`` without one)."""
    if backend is None:
        return {}
    space = backend.space
    flags = [backend.extrapolated(space.mixture(m["mixture"]), space.target) for m in s["pareto"]["set"]]
    if not flags or any(f is None for f in flags):
        return {}
    return {"set_extrapolated": float(np.mean(flags)), "recommendation_extrapolated": s.get("extrapolated")}


def aggregate(rows: list[dict]) -> dict:
    hv = np.array([r["hv_regret"] for r in rows])
    frac = np.array([r["hv_regret_frac"] for r in rows])
    q = np.quantile(hv, [0.25, 0.5, 0.75])
    extra = {}
    if "set_extrapolated" in rows[0]:
        extra = {"set_extrapolated_mean": float(np.mean([r["set_extrapolated"] for r in rows])),
                 "recommendation_extrapolated_rate": float(np.mean([bool(r["recommendation_extrapolated"])
                                                                    for r in rows]))}
    return {**extra, "n": len(rows), "hv_regret_median": float(q[1]), "hv_regret_q25": float(q[0]),
            "hv_regret_q75": float(q[2]), "hv_regret_p90": float(np.quantile(hv, 0.9)),
            "hv_regret_frac_median": float(np.median(frac)),
            "scalar_regret_median": float(np.median([r["regret"] for r in rows])),
            "n_runs_median": float(np.median([r["n_runs"] for r in rows])),
            "wall_s_median": float(np.median([r["wall_s"] for r in rows]))}


def plot(results: dict, rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = sorted(results)
    fig, axes = plt.subplots(1, len(probs), figsize=(5 * len(probs), 4), squeeze=False)
    for ax, m in zip(axes[0], probs):
        names = list(results[m])
        data = [[r["hv_regret"] for r in rows[m][p]] for p in names]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names)
        for i, d in enumerate(data, start=1):
            ax.scatter(np.full(len(d), i) + np.linspace(-0.12, 0.12, len(d)), d, s=12, c="k", alpha=0.6, zorder=3)
        ax.set_title(f"{m} objectives ({len(data[0])} seeds, equal budget)")
        ax.set_ylabel("hypervolume regret (normalised; lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(out: Path, args, common: list[str], rows: dict, problems: dict | None = None,
          pols: dict | None = None) -> dict:
    """Aggregate ``rows``, write the JSON and the plot; returns the aggregates (``problems`` / ``pols``: the problem
    set's overrides and the policies', default the synthetic ones)."""
    results = {m: {p: aggregate(r) for p, r in per.items()} for m, per in rows.items()}
    settings = {"problems": {m: (problems or PROBLEMS)[m] for m in rows}, "policies": pols or POLICIES,
                "common": common, "seeds": args.seeds, "threads": 1}
    if problems is not None and problems is not PROBLEMS:
        settings["problem"] = args.problem
    (out / "multi_objective.json").write_text(json.dumps({"settings": settings, "results": results, "runs": rows},
                                                         indent=1))
    plot(results, rows, out / "multi_objective.png")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problem", default="synthetic", choices=sorted(SETS))
    ap.add_argument("--budget", type=float, default=None, help="default 4 (synthetic), 2 (regmix)")
    ap.add_argument("--max-runs", type=int, default=None, help="default 16 (synthetic), 64 (regmix)")
    ap.add_argument("--problems", type=int, nargs="+", default=None, choices=sorted(PROBLEMS),
                    help="numbers of objectives (synthetic: 2 3; regmix: 2)")
    ap.add_argument("--light-gp", action="store_true", help="a product kernel alone for mobo and mfbo (faster)")
    ap.add_argument("--out", default=None, help="default benchmarks/results/multi_objective[/regmix]")
    args = ap.parse_args()
    spec = SETS[args.problem]
    problems = spec["problems"]
    args.problems = sorted(problems) if args.problems is None else args.problems
    bad = [m for m in args.problems if m not in problems]
    if bad:
        ap.error(f"--problem {args.problem} has {sorted(problems)} objectives, not {bad}")
    args.budget = spec["budget"] if args.budget is None else args.budget
    args.max_runs = spec["max_runs"] if args.max_runs is None else args.max_runs
    import torch

    torch.set_num_threads(1)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "multi_objective" / spec["out"]
    out.mkdir(parents=True, exist_ok=True)
    common = ["progress=false", f"budget={args.budget}", f"max_runs={args.max_runs}", *spec["extra"]]
    pols = POLICIES if args.problem == "synthetic" else policies(spec["model"])
    if args.light_gp:
        for name in ("mobo", "mfbo"):
            pols[name] = pols[name] + LIGHT_GP
    rows: dict[int, dict[str, list[dict]]] = {m: {p: [] for p in pols} for m in args.problems}
    for m in args.problems:
        backend = None
        if args.problem != "synthetic":  # the simulator's trust region: which scored mixtures are extrapolated
            from bomix.app import build, compose

            backend = build(compose(problems[m]))[0]
        for seed in range(args.seeds):
            for name, pol in pols.items():
                t0 = time.perf_counter()
                s = run_one(problems[m] + pol + common + [f"seed={seed}"])
                p = s["pareto"]
                row = {"seed": seed, "hv_regret": p["hv_regret"], "hv_regret_frac": p["hv_regret_frac"],
                       "hv": p["hv"], "hv_true": p["hv_true"], "set_size": len(p["set"]), "n_scored": p["n_scored"],
                       "regret": s["regret"], "n_runs": s["n_runs"], "fidelities": s["fidelities"],
                       "wall_s": time.perf_counter() - t0, **extrapolation(backend, s)}
                rows[m][name].append(row)
                if seed == 0 and s["_png"]:
                    (out / f"front_{m}obj_{name}_seed0.png").write_bytes(s["_png"])
                print(f"{m} obj seed {seed} {name:6s} hv_regret={row['hv_regret']:.4f} "
                      f"({100 * row['hv_regret_frac']:.1f}%) set={row['set_size']} runs={row['n_runs']} "
                      f"scalar regret={row['regret']:.4f} ({row['wall_s']:.0f} s)", flush=True)
            if args.problem != "synthetic":  # slow campaigns: keep what is done so far
                write(out, args, common, {k: v for k, v in rows.items() if k <= m}, problems, pols)
        write(out, args, common, {k: v for k, v in rows.items() if k <= m}, problems, pols)  # what is done so far
    results = write(out, args, common, rows, problems, pols)
    for m, per in results.items():
        for p, r in per.items():
            print(f"{m} objectives {p:6s}: hv regret median {r['hv_regret_median']:.4f} "
                  f"[{r['hv_regret_q25']:.4f}, {r['hv_regret_q75']:.4f}] ({100 * r['hv_regret_frac_median']:.1f}% of "
                  f"the true front's), scalar regret median {r['scalar_regret_median']:.4f}, "
                  f"{r['n_runs_median']:.0f} runs, {r['wall_s_median']:.0f} s"
                  + (f"; {100 * r['set_extrapolated_mean']:.0f}% of the set and "
                     f"{100 * r['recommendation_extrapolated_rate']:.0f}% of recommendations outside the trust "
                     "region (extrapolated)" if "set_extrapolated_mean" in r else ""))
    print(f"wrote {out / 'multi_objective.json'} and {out / 'multi_objective.png'}")


if __name__ == "__main__":
    main()
