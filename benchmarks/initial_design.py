"""Which initial design lets a GP recommend well on many domains: the GP's target recommendation from n initial
runs at the cheapest fidelity, by design, on a simulator with ground truth.

Designs: ``sobol`` (the uniform distribution on the simplex through scrambled Sobol points: bomix's design until
issue 23), ``bomix`` (:func:`bomix.policies.design.space_filling`: Dirichlet draws at log-spaced total
concentrations, Sobol-stratified) and ``regmix`` (RegMix's design, :func:`bomix.laws.regmix.sample_design`). For each
design, size and seed: run the design on the backend (runs seeded as a campaign would), fit ``mfbo``'s GP on the
results (the policy's own settings) and score its recommendation (mfbo's: argmax of posterior mean - ``rec_kappa`` sd
at the target; kappa 1 in the committed results of 2026-12-06, 2 since 2026-12-07) by the simulator's true target
value. No decision is made after the design: this isolates the design.

Usage:
    python benchmarks/initial_design.py [--problem regmix] [--designs sobol,bomix,regmix] [--n 128,256]
        [--seeds 5] [--out benchmarks/results/initial_design]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from seed_stats import spread

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = {
    "regmix": ["+experiment=demo"],
    "synthetic32": ["backend=synthetic", "backend.k=32", "policy=mfbo"],
}


def designs(space, fid, prior):
    """name -> ``(n, rng) -> (n, K)`` mixtures."""
    from scipy.stats import qmc

    from bomix.laws.regmix import sample_design
    from bomix.policies.design import space_filling

    def sobol(n, rng):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # n need not be a power of 2
            u = np.sort(qmc.Sobol(d=space.k - 1, scramble=True, seed=rng).random(n), axis=1)
        return np.diff(np.column_stack([np.zeros(n), u, np.ones(n)]), axis=1)

    return {"sobol": sobol,
            "bomix": lambda n, rng: space_filling(space, n, rng, fid, prior=prior),
            "regmix": lambda n, rng: sample_design(n, prior, rng)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="regmix", choices=sorted(PROBLEMS))
    ap.add_argument("--designs", default="sobol,bomix,regmix")
    ap.add_argument("--n", default="128,256")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/initial_design"))
    args = ap.parse_args()

    import torch

    from bomix.app import build, compose
    from bomix.history import History
    from bomix.laws.regmix import design_prior
    from bomix.mixture import Mixture
    from bomix.runs import RunSpec

    torch.set_num_threads(1)
    backend, policy, _, _, _ = build(compose(PROBLEMS[args.problem]))
    problem = policy.problem
    space, obj, t = problem.space, problem.objective, problem.space.target
    v_opt = backend.optimum(obj, t)[1]
    fid = policy.init_fidelities()[0]
    table = designs(space, fid, design_prior(space.tokens, space.k))
    rows = []
    for name in args.designs.split(","):
        for n in [int(x) for x in args.n.split(",")]:
            for seed in range(args.seeds):
                t0 = time.time()
                W = table[name](n, np.random.default_rng([seed, 5]))
                res = [backend.run(RunSpec(Mixture(w, space.domains), fid.scale, fid.steps, tag="init",
                                           seed=seed * 100_000 + i, run_id=f"r{seed}-{i}")) for i, w in enumerate(W)]
                policy.bind(problem, seed)
                rec = policy.recommend(History(space, obj, res, [], float("inf"), 0.0))
                regret = float(backend.true_value(rec, t, obj) - v_opt)
                rows.append({"design": name, "n": n, "seed": seed, "regret": regret,
                             "max_weight": float(rec.weights.max()), "seconds": time.time() - t0})
            r = [x["regret"] for x in rows if x["design"] == name and x["n"] == n]
            s = spread(r)
            print(f"{name:8s} n={n:5d} median regret {s['median']:.4f} [{s['q25']:.4f}, {s['q75']:.4f}] over "
                  f"{len(r)} seeds", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {f"{d}@{n}": {**spread(v), "seeds": len(v)}
               for d in args.designs.split(",") for n in [int(x) for x in args.n.split(",")]
               for v in [[x["regret"] for x in rows if x["design"] == d and x["n"] == n]]}
    doc = {"problem": args.problem, "rows": rows, "summary": summary,
           "command": "python benchmarks/initial_design.py " + " ".join(
               f"--{k} {v}" for k, v in vars(args).items() if k != "out")}
    (out / f"{args.problem}.json").write_text(json.dumps(doc, indent=1))
    _plot(rows, out / f"{args.problem}.png", args.problem)


def _plot(rows: list[dict], path: Path, problem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    names = sorted({r["design"] for r in rows})
    ns = sorted({r["n"] for r in rows})
    for j, name in enumerate(names):
        for i, n in enumerate(ns):
            v = [r["regret"] for r in rows if r["design"] == name and r["n"] == n]
            x = i + (j - (len(names) - 1) / 2) * 0.25
            ax.scatter(np.full(len(v), x), v, s=12, alpha=0.6, color=f"C{j}", label=name if i == 0 else None)
            ax.plot([x - 0.1, x + 0.1], [np.median(v)] * 2, color=f"C{j}", lw=2)
    ax.set_xticks(range(len(ns)), [f"{n} runs" for n in ns])
    ax.set_ylabel("target regret of the GP's recommendation")
    ax.set_title(f"initial design only ({problem}); bars: medians")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
