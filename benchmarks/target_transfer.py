"""Does mfbo's GP carry the proxies' mixture differences to the target? (issue 23 item 2, a diagnosis)

For each finished mfbo campaign of ``benchmarks/recommendation_rules.py`` (its work directory), the difference
``D(f) = y_f(rec) - y_f(opt)`` of the objective (a loss, so ``D > 0``: the recommendation is worse) between the
campaign's final recommendation ``rec`` and the simulator's target optimum ``opt``, at every fidelity the policy ran
and at the target: the truth (the simulator at that fidelity) against the GP's posterior mean and sd of the
difference (joint posterior of the two points, the campaign's final history and hyperparameters).

Read it as: where the truth's ``D`` changes sign between the largest proxy and the target, the optimum moved between
them (the proxy-to-target shift); where the GP's target ``D`` keeps its proxy ``D``'s sign, the GP carries the
proxies' differences to the target (so it cannot see the shift); where its ``D`` at the proxy is far below the truth,
it is optimistic about its own recommendation already at the proxies (the argmax's winner's curse).

Usage: python benchmarks/target_transfer.py [--problem demo] [--seeds 10] [--work /tmp/bomix_rec_rules]
    [--out benchmarks/results/target_transfer]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder_replay import git_state  # noqa: E402
from recommendation_rules import PROBLEMS, problem_overrides  # noqa: E402


def transfer(directory: Path, overrides: list[str], budget: float) -> dict:
    """One campaign: per fidelity (the policy's grid, then the target), true and predicted ``D``."""
    import torch

    from bomix.acquisition.analytic import contrast
    from bomix.acquisition.fixed import FixedFidelities
    from bomix.app import build, compose
    from bomix.history import History
    from bomix.space import Mixture
    from bomix.store import StoreReader

    seed = int(directory.name.removeprefix("seed"))
    backend, policy, _, _, _ = build(compose([*overrides, f"seed={seed}"]))
    try:
        space, obj = policy.problem.space, policy.problem.objective
        with StoreReader(directory) as store:
            results, _, spent = store.load(space.domains)
        history = History(space, obj, results, [], budget, spent)
        rec = policy.recommend(history)
        opt = backend.optimum(obj)[0]
        opt = Mixture(np.asarray(getattr(opt, "weights", opt)), space.domains)
        model, _ = policy.model(policy._settled(history), refit=False)
        fids = [*[f for f in policy.grid() if f != space.target], space.target]
        at = FixedFidelities(space, fids)
        rows = []
        for i, f in enumerate(fids):
            x_rec, x_opt = (at(torch.tensor(m.weights[None], dtype=torch.double), i) for m in (rec, opt))
            with torch.no_grad():
                d, sd = contrast(model, x_rec, x_opt)  # of -loss: f(rec) - f(opt), jointly
            true = backend.true_value(rec, f, obj) - backend.true_value(opt, f, obj)
            n = sum(1 for r in results if r.spec.fidelity == f)
            rows.append({"fidelity": str(f), "runs": n, "true_D": float(true), "pred_D": -float(d[0]),
                         "sd_D": float(sd[0])})
        return {"seed": seed, "regret": rows[-1]["true_D"], "rows": rows}
    finally:
        backend.close()


def summarize(per_seed: list[dict]) -> dict:
    """Seeds where the truth's ``D`` changes sign between the largest proxy and the target (the optimum moved), where
    the GP's target ``D`` keeps the sign of its largest-proxy ``D`` (it carries the proxies' differences over), and
    where it has the truth's sign at the proxy and at the target; the GP's error at the largest proxy and the target
    (predicted - true, in loss and in its own sds): how optimistic it is about its recommendation."""
    proxy = [s["rows"][-2] for s in per_seed]
    target = [s["rows"][-1] for s in per_seed]
    sign = lambda v: float(np.sign(v))  # noqa: E731
    err = lambda rows: np.array([r["pred_D"] - r["true_D"] for r in rows])  # noqa: E731
    zerr = lambda rows: np.array([(r["pred_D"] - r["true_D"]) / max(r["sd_D"], 1e-12) for r in rows])  # noqa: E731
    return {"n_seeds": len(per_seed), "largest_proxy": proxy[0]["fidelity"],
            "truth_sign_flips": int(sum(sign(p["true_D"]) != sign(t["true_D"]) for p, t in zip(proxy, target))),
            "gp_carries_proxy_sign": int(sum(sign(p["pred_D"]) == sign(t["pred_D"]) for p, t in zip(proxy, target))),
            "gp_sign_right_proxy": int(sum(sign(p["pred_D"]) == sign(p["true_D"]) for p in proxy)),
            "gp_sign_right_target": int(sum(sign(t["pred_D"]) == sign(t["true_D"]) for t in target)),
            "median_true_D": {"proxy": float(np.median([p["true_D"] for p in proxy])),
                              "target": float(np.median([t["true_D"] for t in target]))},
            "median_pred_D": {"proxy": float(np.median([p["pred_D"] for p in proxy])),
                              "target": float(np.median([t["pred_D"] for t in target]))},
            "median_error": {"proxy": float(np.median(err(proxy))), "target": float(np.median(err(target)))},
            "median_error_in_sd": {"proxy": float(np.median(zerr(proxy))), "target": float(np.median(zerr(target)))}}


def plot(per_seed: list[dict], path: Path) -> None:
    from plotting import panels, save

    fig, axes = panels(1, 6.0, 4.0)
    ax = axes[0][0]
    fids = [r["fidelity"] for r in per_seed[0]["rows"]]
    x = np.arange(len(fids))
    for i, s in enumerate(per_seed):
        off = (i - len(per_seed) / 2) * 0.03
        ax.plot(x + off, [r["true_D"] for r in s["rows"]], "o", color="C0", ms=4, label="truth" if i == 0 else None)
        ax.errorbar(x + off + 0.015, [r["pred_D"] for r in s["rows"]], yerr=[r["sd_D"] for r in s["rows"]], fmt="x",
                    color="C3", ms=4, lw=0.8, label="GP mean +- 1 sd" if i == 0 else None)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xticks(x, fids)
    ax.set_ylabel("D = loss(rec) - loss(target optimum)")
    ax.set_title(f"does the GP carry the proxies' differences to the target? ({len(per_seed)} seeds)", fontsize=9)
    save(fig, axes, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="demo")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--work", default="/tmp/bomix_rec_rules", help="recommendation_rules.py's work directory")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "target_transfer"))
    args = ap.parse_args()
    work, out = Path(args.work), Path(args.out)
    over, budget = problem_overrides(args.problem, work), PROBLEMS[args.problem][1]
    dirs = [work / "campaigns" / args.problem / "mfbo" / f"seed{s}" for s in range(args.seeds)]
    missing = [str(d) for d in dirs if not (d / "summary.json").exists()]
    if missing:
        sys.exit(f"target_transfer: no finished campaign at {missing[0]}: run benchmarks/recommendation_rules.py "
                 f"--problems {args.problem} --seeds {args.seeds} --work {work} first")
    per = []
    for d in dirs:
        per.append(transfer(d, over, budget))
        print(f"seed {per[-1]['seed']}: " + "; ".join(f"{r['fidelity']} true {r['true_D']:+.3f} pred {r['pred_D']:+.3f}"
                                                     f" +- {r['sd_D']:.3f}" for r in per[-1]["rows"]), flush=True)
    summary = summarize(per)
    print(json.dumps(summary, indent=1))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"target_transfer_{args.problem}.json").write_text(json.dumps(
        {"settings": {"problem": args.problem, "overrides": over, "budget": budget, "seeds": args.seeds,
                      "git": git_state()}, "summary": summary, "per_seed": per}, indent=1))
    plot(per, out / f"target_transfer_{args.problem}.png")
    print(f"wrote {out}/target_transfer_{args.problem}.{{json,png}}")


if __name__ == "__main__":
    main()
