"""Campaigns over a many-metric objective: mfbo with one GP of the aggregate (``metrics_model=scalar``, the default)
vs one GP per metric (``metrics_model=independent``), at equal budget; the final recommendation's regret of the
aggregate in the simulator's truth (issue 24, "joint modelling vs scalarise-then-model").

- ``synthetic``: ``problem=synthetic_tasks``'s objective (12 tasks + loss:target, normalised against the uniform
  mixture) on the synthetic backend (K = 5, noise 0.01, hetero 1; a seed = the instance and the campaign), runs at
  the target only (1B@20000, cost 1 each), 6 initial runs, 12 runs, budget 12.
- ``regmix``: the RegMix simulator (``conf/backend/regmix.yaml``) with the mean relative change of its 13 validation
  losses against their median over the logged 1M runs; runs at 1M@1000 only (as RegMix's recipe), 32 initial runs,
  64 runs; the regret is scored at 1B in the simulator's truth (an extrapolation outside its trust region, stated as
  such by the simulator).

Both with a light GP (product kernel only, 10 L-BFGS iterations, a small acquisition search), stated in the JSON.

    python benchmarks/joint_campaigns.py                 # 10 seeds, both problems
    python benchmarks/joint_campaigns.py --seeds 2 --problems synthetic

Writes benchmarks/results/joint_metrics/campaigns.json (and prints the table).

Measured (2026-12-06, the default command, 10 seeds; final regret of the aggregate, median [IQR], p90):
synthetic: independent 0.0083 [0.0054, 0.0192] p90 0.16 vs scalar 0.0268 [0.0144, 0.0486] p90 0.078 (better on 7/10
seeds, but seed 6 ends at 1.17: a corner where a perplexity task explodes, which the per-metric GPs extrapolate
wrongly); regmix: independent 0.0102 [0.0096, 0.0116] p90 0.0145 vs scalar 0.0180 [0.0153, 0.0198] p90 0.0205 (better
on 8/10; both scored at 1B outside the simulator's trust region: extrapolated values). So ``independent`` stays
opt-in until its tail on exploding metrics is fixed (e.g. a log warping of perplexities).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from bomix.campaign import Campaign, ProblemConfig

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "joint_metrics"
LIGHT_GP = {"maxiter": 10, "law": False, "level": False, "invariant": False, "cold_start": False}
LIGHT_SEARCH = {"raw_samples": 64, "starts": 2, "iters": 10}
MODES = ("scalar", "independent")


def setup(problem: str, seed: int):
    """``(backend, problem config, policy options, budget, max_runs)``."""
    if problem == "synthetic":
        from bomix.backends.synthetic import SyntheticBackend

        obj = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "problem" / "synthetic_tasks.yaml"))["objective"]
        backend = SyntheticBackend(k=5, tasks=12, noise=0.01, hetero=1.0, seed=seed)
        return backend, ProblemConfig(objective=obj), {"fidelities": ["1B@20000"], "n_init": 6}, 12.0, 12
    import pandas as pd

    from bomix.backends.replay import ReplayBackend

    backend = ReplayBackend(str(ROOT / "simulator" / "regmix" / "built"))
    d = pd.read_csv(ROOT / "simulator" / "regmix" / "regmix.csv")
    d = d[d["scale"] == "1M"]
    losses = [m for m in backend.metrics if f"m:{m}" in d.columns]
    obj = {"weights": {m: 1.0 for m in losses}, "reference": {m: float(d[f"m:{m}"].median()) for m in losses},
           "name": "mean_relative_loss"}
    return backend, ProblemConfig(objective=obj), {"fidelities": ["1M@1000"], "n_init": 32}, 2.0, 64


def one(problem: str, seed: int, mode: str) -> dict:
    from bomix.policies.bo.mfbo import MFBOPolicy

    backend, pcfg, opts, budget, max_runs = setup(problem, seed)
    pol = MFBOPolicy(metrics_model=mode, gp=LIGHT_GP, search=LIGHT_SEARCH, **opts)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d, Campaign(backend, pol, budget=budget, seed=seed, directory=d,
                                                      problem=pcfg, max_runs=max_runs, batch_size=4) as c:
        s = c.run()
    return {"problem": problem, "seed": seed, "mode": mode, "regret": s["regret"], "n_runs": s["n_runs"],
            "budget_used": s["budget_used"], "extrapolated": s.get("extrapolated"),
            "fallbacks": s["policy_info"].get("fallbacks"), "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", nargs="+", default=["synthetic", "regmix"], choices=["synthetic", "regmix"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for problem in args.problems:
        for seed in range(args.seeds):
            for mode in MODES:
                r = one(problem, seed, mode)
                rows.append(r)
                print(f"{problem} seed={seed} {mode:11s} regret {r['regret']:.4f} runs {r['n_runs']} "
                      f"({r['wall_s']:.0f} s)", flush=True)
    summary = {"command": f"python benchmarks/joint_campaigns.py --seeds {args.seeds} --problems "
                          + " ".join(args.problems),
               "settings": {"gp": LIGHT_GP, "search": LIGHT_SEARCH, "batch_size": 4}, "table": {}, "rows": rows}
    print(f"\nfinal regret of the aggregate, {args.seeds} seeds: median [IQR], p90; seeds where independent < scalar")
    for problem in args.problems:
        reg = {m: np.array([r["regret"] for r in rows if r["problem"] == problem and r["mode"] == m]) for m in MODES}
        wins = int(np.sum(reg["independent"] < reg["scalar"] - 1e-12))
        ties = int(np.sum(np.abs(reg["independent"] - reg["scalar"]) <= 1e-12))
        summary["table"][problem] = {m: {"median": float(np.median(v)), "iqr": np.percentile(v, [25, 75]).tolist(),
                                         "p90": float(np.percentile(v, 90))} for m, v in reg.items()}
        summary["table"][problem]["independent_better_seeds"] = wins
        summary["table"][problem]["ties"] = ties
        for m, v in reg.items():
            q1, q3 = np.percentile(v, [25, 75])
            print(f"{problem:9s} {m:11s} {np.median(v):.4f} [{q1:.4f}, {q3:.4f}]  p90 {np.percentile(v, 90):.4f}")
        print(f"{problem:9s} independent better on {wins}/{len(reg['scalar'])} seeds ({ties} ties)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "campaigns.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
