"""Constrained vs unconstrained mfbo on a problem with an outcome constraint: how often is the final
recommendation feasible in the simulator's truth, and how good is it among the feasible ones?

Problem ``problem=synthetic_tasks`` (12 downstream-like task metrics, a normalised objective, one constraint:
loss on d2 no worse than the uniform mixture's + 1%). Two variants run the same mfbo settings and seeds:

- ``constrained``: the problem as configured (a GP per constraint, log EI + log PoF, recommendations predicted
  feasible with probability ``constraint_prob``);
- ``unconstrained``: the same problem with ``problem.constraints=null`` (the objective alone).

Both final recommendations are scored on the constrained problem's truth: ``feasible`` (meets the constraint at
the target) and ``regret`` = true objective - the best feasible mixture's (negative is possible for an infeasible
recommendation). Reported per variant: the feasibility rate, the median regret among feasible recommendations,
and the median regret over all; and, for scale, the uniform mixture's feasibility and regret (it is the reference
the constraint is relative to).

``--problem regmix``: the RegMix simulator (``backend=regmix problem=regmix_mean13``): the mean relative change of
its 13 validation losses against the Pile's own mixture, one constraint (PubMed Central loss no worse than that
mixture's + 1%), proxies at 1M@1000 and 60M@1000 and the target 1B@23842, a 32-run initial design at 1M, 8 runs at a
time (4 decisions), budget 2 target runs, 64 runs. The truth at 1B is the simulator's model: a recommendation outside
its trust region (64 logged 1B mixtures) is scored by extrapolation; each row says whether (``extrapolated``) and
each variant reports the share. The Pile's mixture (the reference) is scored next to the uniform one.

Usage:
    python benchmarks/constraints.py [--problem synthetic|regmix] [--seeds 10] [--max-runs 16] [--budget 16]
        [--full-gp] [--set OVERRIDE ...] [--out benchmarks/results/constraints]
    (regmix: 64 runs, budget 2, out .../constraints/regmix)
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
#: mfbo settings both variants share: the two largest scales at the longest steps (the constraint is judged at the
#: target; a near-target proxy helps), a budget-independent initial design, a small search
BASE = ["problem=synthetic_tasks", "policy=mfbo", "policy.fidelities=[300M@20000,1B@20000]", "policy.n_init=8",
        "policy.search.raw_samples=64", "policy.search.starts=2", "policy.search.iters=10", "progress=false"]
#: a light GP (a product kernel alone) unless --full-gp: mfbo's full model costs several seconds per fit here
LIGHT_GP = ["policy.gp.law=false", "policy.gp.level=false", "policy.gp.invariant=false",
            "policy.gp.cold_start=false", "policy.gp.maxiter=20"]
VARIANTS = {"constrained": [], "unconstrained": ["problem.constraints=null"]}
#: --problem: the overrides that select the problem (``truth`` composes them alone), the campaign's overrides (both
#: variants), the default run cap and budget, the results' subfolder, and a named reference mixture to score
PROBLEMS = {
    "synthetic": {"problem": BASE[:1], "campaign": BASE, "max_runs": 16, "budget": 16.0, "out": "", "reference": None},
    "regmix": {"problem": ["backend=regmix", "problem=regmix_mean13"],
               "campaign": ["backend=regmix", "problem=regmix_mean13", "policy=mfbo",
                            "policy.fidelities=[1M@1000,60M@1000,1B@23842]", "policy.n_init=32", "batch_size=8",
                            *BASE[4:]],
               "max_runs": 64, "budget": 2.0, "out": "regmix", "reference": "human"},
}
#: RegMix's baseline mixtures at 1B (``human`` = the Pile's own weights)
BASELINES = ROOT / "simulator" / "regmix" / "baselines_1b.csv"


def run_one(overrides: list[str]) -> dict:
    """One campaign in a temporary directory; returns its summary."""
    from bomix.app import compose, run_from_config

    with tempfile.TemporaryDirectory() as d:
        return run_from_config(compose(overrides), d)


def truth(problem: str = "synthetic") -> tuple:
    """The constrained problem's backend, problem and its best feasible value (ground truth; the synthetic instance
    is the backend's seed, 0, whatever the campaign's seed)."""
    from bomix.app import build, compose
    from bomix.backends.truth import constrained_optimum
    from bomix.campaign import build_problem

    backend, _, _, pcfg, _ = build(compose(PROBLEMS[problem]["problem"]))
    problem = build_problem(backend, pcfg)
    _, best = constrained_optimum(backend, problem.objective, problem.constraints)
    return backend, problem, best


def score(backend, problem, best: float, recommendation: dict) -> dict:
    """Feasibility and regret of a recommendation on the constrained problem's truth."""
    from bomix.constraints import true_slacks

    mix = problem.space.mixture(recommendation)
    t = problem.space.target
    slack = true_slacks(backend, mix, t, problem.constraints)
    value = float(backend.true_value(mix, t, problem.objective))
    out = {"feasible": bool((slack >= 0).all()), "slack": slack.tolist(), "true_value": value, "regret": value - best}
    extrapolated = backend.extrapolated(mix, t)
    if extrapolated is not None:  # a simulator with a trust region (RegMix): scored outside it = extrapolated
        out["extrapolated"] = bool(extrapolated)
    return out


def reference_mixture(name: str) -> dict[str, float]:
    """A named RegMix baseline mixture (``simulator/regmix/baselines_1b.csv``) as domain -> weight."""
    import pandas as pd

    row = pd.read_csv(BASELINES).set_index("name").loc[name]
    return {c.removeprefix("w:"): float(v) for c, v in row.items()}


def aggregate(rows: list[dict]) -> dict:
    """Per variant: feasibility rate, median regrets (with IQR), predicted feasibility, wall time, and with a trust
    region the share of recommendations scored outside it."""
    reg = np.array([r["regret"] for r in rows])
    ok = np.array([r["feasible"] for r in rows])
    spread = {}
    if "extrapolated" in rows[0]:
        spread = {"regret_iqr_all": np.quantile(reg, [0.25, 0.75]).tolist(),
                  "regret_iqr_feasible": np.quantile(reg[ok], [0.25, 0.75]).tolist() if ok.any() else None,
                  "extrapolated_rate": float(np.mean([r["extrapolated"] for r in rows]))}
    return {"n": len(rows), "feasible_rate": float(ok.mean()), **spread,
            "regret_median_feasible": float(np.median(reg[ok])) if ok.any() else None,
            "regret_median_all": float(np.median(reg)),
            "predicted_feasible_rate": (float(np.mean([r["predicted_feasible"] for r in rows]))
                                        if all(r.get("predicted_feasible") is not None for r in rows) else None),
            "wall_s_median": float(np.median([r["wall_s"] for r in rows]))}


def write(args, spec: dict, common: list[str], best: float, rows: dict, backend, problem) -> dict:
    """Aggregate ``rows`` (per variant; the uniform and reference mixtures scored too) and write the JSON."""
    results = {v: aggregate(r) for v, r in rows.items()}
    results["uniform"] = score(backend, problem, best, problem.space.center().to_dict())
    if spec["reference"]:
        results["reference"] = {"name": spec["reference"], **score(backend, problem, best,
                                                                   reference_mixture(spec["reference"]))}
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "constraints" / spec["out"]
    out.mkdir(parents=True, exist_ok=True)
    settings = {"overrides": common, "seeds": args.seeds, "variants": VARIANTS, "optimum": best}
    (out / "constraints.json").write_text(json.dumps({"settings": settings, "results": results, "runs": rows},
                                                     indent=1))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problem", default="synthetic", choices=sorted(PROBLEMS))
    ap.add_argument("--max-runs", type=int, default=None, help="default 16 (synthetic), 64 (regmix)")
    ap.add_argument("--budget", type=float, default=None, help="default 16 (synthetic), 2 (regmix)")
    ap.add_argument("--full-gp", action="store_true", help="mfbo's own GP (law basis, level, invariant parts)")
    ap.add_argument("--out", default=None, help="default benchmarks/results/constraints[/regmix]")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every campaign, e.g. policy.rec_kappa=1")
    args = ap.parse_args()
    spec = PROBLEMS[args.problem]
    max_runs = spec["max_runs"] if args.max_runs is None else args.max_runs
    budget = spec["budget"] if args.budget is None else args.budget
    common = (spec["campaign"] + ([] if args.full_gp else LIGHT_GP) + [f"max_runs={max_runs}", f"budget={budget}"]
              + list(args.set))
    rows: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    backend, problem, best = truth(args.problem)
    for seed in range(args.seeds):
        for name, extra in VARIANTS.items():
            t0 = time.perf_counter()
            s = run_one(common + extra + [f"seed={seed}"])
            row = {"seed": seed, **score(backend, problem, best, s["recommendation"]),
                   "wall_s": time.perf_counter() - t0, "n_runs": s["n_runs"], "fidelities": s["fidelities"],
                   "predicted_feasible": (s.get("constraints") or {}).get("predicted_feasible")}
            rows[name].append(row)
            print(f"seed {seed} {name:13s} feasible={row['feasible']!s:5s} regret={row['regret']:+.5f} "
                  f"runs={row['n_runs']} ({row['wall_s']:.0f} s)", flush=True)
        if args.problem != "synthetic" and seed < args.seeds - 1:  # slow campaigns: keep what is done so far
            write(args, spec, common, best, rows, backend, problem)
    results = write(args, spec, common, best, rows, backend, problem)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / "constraints" / spec["out"]
    for v, r in results.items():
        if v in ("uniform", "reference"):
            print(f"{v:13s} feasible {r['feasible']}, regret {r['regret']:+.5f}"
                  + (f" (extrapolated {r['extrapolated']})" if "extrapolated" in r else ""))
            continue
        print(f"{v:13s} feasible {100 * r['feasible_rate']:.0f}% of {r['n']} seeds; median regret among feasible "
              f"{r['regret_median_feasible']}, over all {r['regret_median_all']:+.5f}"
              + (f" IQR {r['regret_iqr_all']}; {100 * r['extrapolated_rate']:.0f}% scored outside the trust region "
                 "(extrapolated)" if "extrapolated_rate" in r else ""))
    print(f"wrote {out / 'constraints.json'}")


if __name__ == "__main__":
    main()
