"""What a PERFECT model of each proxy fidelity alone would recommend for the target: the floor of proxy-only methods.

For every benchmark problem (the policy comparison's and the MFMS speedup's), and every allowed fidelity cheaper
than the target, this evaluates on the simulator's own ground truth:

- ``exact``: the proxy fidelity's exact optimum (``backend.optimum(objective, fid)``), scored at the target: the
  regret of any method that finds the proxy's optimum perfectly and recommends it (a law or a GP fitted
  only below the target, with infinite data);
- ``topk``: RegMix's recipe on a perfect proxy model: the mean of the ``--topk`` best of ``--samples`` random
  mixtures (Dirichlet(``--alpha``)), by their exact proxy value, scored at the target;
- ``uniform``: the uniform mixture, for scale.

A budget below one target run buys only proxy information, so no policy can be expected to beat ``exact``
there unless the proxy->target shift is predictable from the proxies themselves; ``topk``'s averaging is a
hedge that may or may not land nearer the target's optimum. Nothing is fitted: this is ground truth only.

Usage:
    python benchmarks/proxy_oracle.py [--problems regmix,mfms_stackexchange,mfms_mean7,synthetic]
        [--samples 20000] [--topk 100] [--alpha 1.0] [--out benchmarks/results/proxy_oracle]
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
PROBLEMS = {
    "regmix": ["backend=regmix", "problem=regmix_pilecc"],
    "mfms_stackexchange": ["backend=mfms", "problem=mfms_stackexchange"],
    "mfms_mean7": ["backend=mfms", "problem=mfms_mean7"],
    "synthetic": ["backend=synthetic"],
}


def oracle(overrides: list[str], samples: int, topk: int, alpha: float, seed: int = 0) -> dict:
    """Target regret of each proxy fidelity's exact optimum and of its top-k mean; see the module docstring."""
    from bomix.app import build, compose
    from bomix.campaign import build_problem
    from bomix.space import Mixture

    backend, _, _, pcfg, _ = build(compose(overrides))
    problem = build_problem(backend, pcfg)
    space, obj, t = problem.space, problem.objective, problem.space.target
    w_opt, v_opt = backend.optimum(obj)

    def regret(w: np.ndarray) -> float:
        return float(backend.true_value(Mixture(space.project(w, t)[0], space.domains), t, obj) - v_opt)

    W = space.sample(samples, np.random.default_rng(seed), alpha)
    rows = []
    for fid in problem.proposals.fidelities():
        if fid == t:
            continue
        t0 = time.perf_counter()
        w_f, _ = backend.optimum(obj, fid)
        vals = backend.true_values(W, fid, obj)
        top = W[np.argsort(vals)[:topk]].mean(0)
        rows.append({"fidelity": str(fid), "cost": float(problem.cost.of(fid)),
                     "exact": regret(w_f.weights), "topk": regret(top),
                     "exact_mixture": dict(zip(space.domains, np.round(w_f.weights, 4).tolist())),
                     "wall_s": time.perf_counter() - t0})
    return {"objective": obj.name, "target": str(t), "optimum": v_opt,
            "optimum_mixture": dict(zip(space.domains, np.round(w_opt.weights, 4).tolist())),
            "uniform": regret(space.center(t).weights), "fidelities": rows}


def plot(results: dict, path: Path) -> None:
    from plotting import log_regret, panels, save

    fig, axes = panels(len(results), 4.2, 3.6)
    for ax, (name, r) in zip(axes[0], results.items()):
        rows = sorted(r["fidelities"], key=lambda x: x["cost"])
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [max(f["exact"], 1e-6) for f in rows], 0.4, label="exact proxy optimum")
        ax.bar(x + 0.2, [max(f["topk"], 1e-6) for f in rows], 0.4, label="top-k mean (RegMix recipe)")
        ax.axhline(r["uniform"], color="grey", ls=":", label="uniform")
        ax.set_xticks(x, [f["fidelity"] for f in rows], rotation=60, fontsize=7)
        log_regret(ax, f"{name}\n(target {r['target']})", "target regret")
    save(fig, axes, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--topk", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "proxy_oracle"))
    args = ap.parse_args()
    names = [p for p in args.problems.split(",") if p]
    bad = [p for p in names if p not in PROBLEMS]
    if bad:
        raise SystemExit(f"unknown problem(s) {bad}: choose from {', '.join(PROBLEMS)}")
    results = {}
    for name in names:
        r = oracle(PROBLEMS[name], args.samples, args.topk, args.alpha)
        results[name] = r
        print(f"{name}: target {r['target']}, optimum {r['optimum']:.4f}, uniform regret {r['uniform']:.4f}")
        for f in sorted(r["fidelities"], key=lambda x: x["cost"]):
            print(f"  {f['fidelity']:>12} cost {f['cost']:.2e}: exact-optimum regret {f['exact']:.5f}, "
                  f"top-{args.topk} mean regret {f['topk']:.5f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"samples": args.samples, "topk": args.topk, "alpha": args.alpha,
                "problems": {n: PROBLEMS[n] for n in names}}
    (out / "proxy_oracle.json").write_text(json.dumps({"settings": settings, "results": results}, indent=1))
    plot(results, out / "proxy_oracle.png")
    print(f"wrote {out / 'proxy_oracle.json'} and proxy_oracle.png")


if __name__ == "__main__":
    main()
