"""Online data-mixing methods against uniform, the best static mixture and mfbo.

Problems: the synthetic backend (5 domains, 20M..1B, 20k steps) without forgetting (``rho = 1``: no
schedule can beat the best static mixture, so ``target``-mode gains can only be <= 0) and with
forgetting ``rho = 0.9999`` per step (order matters: an online recipe may beat every static mixture);
optionally the CPU trainer on the demo corpus (``--trainer DATA_DIR``; small ladder, few seeds).

Every method runs in both recommendation modes on the synthetic problems: ``proxy`` (its average
weights as a static mixture, regret clipped at 0 like every policy) and ``target`` (the recipe itself
at the target; regret against the best static mixture unclipped, negative = a gain). The best static
mixture is the dense optimum (regret 0 by definition). Campaigns are ordinary resumable ``bomix run``
campaigns (``bomix.bench.sweep``) under ``OUT/campaigns/<problem>/<policy>/seed<k>``: a finished one
is skipped, an interrupted one resumes; ``bomix bench OUT/campaigns/<problem>`` aggregates them too.

Writes ``OUT/online_comparison.json`` (per problem and policy: median final regret and quartiles over
seeds, cost used, wall time; the DoReMi reproduction row on the RegMix simulator) and
``OUT/online_comparison.md``, ``OUT/final_regret.png``, one weight-trajectory picture per method
(``OUT/trajectories/<method>.png``: weight of each domain vs step in the seed-0 online run) and the
``bomix bench`` aggregation of each problem (``OUT/bench_<problem>/``: regret vs cost, cost to reach eps).

Reproduction check: the DoReMi 280M Pile weights mapped to RegMix's 17 domains are the ``doremi`` row
of ``simulator/regmix/baselines_1b.csv``; their regret on the RegMix simulator (Pile-CC validation
loss at 1B) is reported next to the other published rows and uniform. Our online methods cannot run
there (the replay simulator holds only logged static runs: ``supports_controller`` is False).

Usage:
    nice -n 5 python benchmarks/online_comparison.py [--seeds 5] [--budget 3] [--jobs 2]
        [--problems rho1,rho0.9999] [--policies all|name,...] [--trainer DATA_DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from seed_stats import SPREAD_KEYS, spread

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
METHODS = ["odm", "odm_mixed", "doremi", "doremi_online", "sheared", "aioli", "ado", "doge", "skillit"]
BASELINES = ["uniform", "mfbo"]
PROBLEMS = {
    "rho1": ["backend=synthetic", "++backend.rho=1.0"],
    "rho0.9999": ["backend=synthetic", "++backend.rho=0.9999"],
}
# mfbo: its own optimiser and fit sizes (the preset), fewer observations and a cap on decisions
MFBO = ["policy=mfbo", "policy.max_obs=150", "policy.max_per_run=3", "max_runs=25"]


def policy_overrides(name: str, mode: str) -> list[str]:
    """``bomix run`` overrides of one method in one recommendation mode."""
    base = "odm" if name == "odm_mixed" else name
    over = [f"policy={base}", f"policy.mode={mode}", f"policy.name={name}" + ("" if mode == "proxy" else "_target")]
    if name == "odm_mixed":
        over.append("policy.controller.params.mode=mixed")
    return over


def jobs_for(root: Path, problems: dict, methods: list[str], seeds: range, budget: float, target: bool):
    from bomix.bench.sweep import grid
    pols = {"uniform": ["policy=uniform"], "mfbo": MFBO}
    for m in methods:
        pols[m] = policy_overrides(m, "proxy")
        if target:
            pols[f"{m}_target"] = policy_overrides(m, "target")
    return grid(root, problems, pols, seeds, budget)


# The CPU trainer on the demo corpus: a two-rung ladder (0.2M, 0.5M; 16 x 128 tokens per step). Online proxy runs
# at --trainer-proxy (default 0.2M@100, sized so that the whole trainer part fits ~40 min on one core); the
# online methods' step-based defaults are shortened to fit 100-step runs (stated here and in the JSON).
TRAINER = ["backend=trainer", "problem=demo_cpu", "backend.scales=[0.2M,0.5M]", "backend.step_grid=[100,250,500]",
           "backend.threads=1"]
TRAINER_SHORT = {
    "odm": ["++policy.controller.params.warmup=10"],
    "odm_mixed": ["++policy.controller.params.warmup=10"],
    "ado": ["++policy.controller.params.start=30", "++policy.controller.params.refit_every=20",
            "++policy.controller.params.record_every=2"],
    "aioli": ["++policy.controller.params.update_steps=50", "++policy.controller.params.lp_rounds=1"],
    "skillit": ["policy.controller.every=25"],
    # its law-fitted reference needs >= 4 evaluated steps of the reference run: evaluate every 25 steps
    "sheared": ["policy.controller.every=20", "backend.eval_every=25"],
}


def trainer_jobs(root: Path, data: str, methods: list[str], seeds: range, budget: float, proxy: str = "0.2M@100"):
    from bomix.bench.sweep import grid
    from bomix.space import Fidelity

    fid = Fidelity.parse(proxy)
    scale, steps = fid.scale, fid.steps
    pols = {"uniform": ["policy=uniform"]}
    for m in methods:
        pols[m] = policy_overrides(m, "proxy") + TRAINER_SHORT.get(m, []) + [f"++policy.scale={scale}",
                                                                             f"++policy.steps={int(steps)}"]
    return grid(root, {"trainer": TRAINER + [f"backend.data_dir={data}"]}, pols, seeds, budget)


def _trainer_backend(data: str):
    from bomix.backends.trainer.backend import TrainerBackend

    return TrainerBackend(data, ladder="cpu", scales=["0.2M", "0.5M"], min_steps=100, max_steps=500,
                          step_grid=[100, 250, 500], eval_every=50, threads=1)


def _eval_one(data: str, scale: str, steps: int, w: list[float], run_id: str) -> dict:
    """Train mixture ``w`` once at ``(scale, steps)`` (seed 0); its mean validation loss."""
    import torch

    from bomix.runs import RunSpec
    from bomix.space import Mixture

    torch.set_num_threads(1)
    b = _trainer_backend(data)
    t0 = time.perf_counter()
    try:
        res = b.run(RunSpec(Mixture(np.asarray(w) / np.sum(w), b.space.domains), scale, steps, seed=0, run_id=run_id))
        value = float(b.default_objective(res.curve.final())) if res.ok else None
        return {"value": value, "status": res.status, "wall_s": time.perf_counter() - t0}
    finally:
        b.close()


def evaluate_trainer(root: Path, data: str, out: Path, at: str, n_jobs: int, new: bool = True) -> list[dict]:
    """Train each campaign's recommendation once at ``at`` (``scale@steps``, seed 0): mean validation loss.

    Results are cached in ``out/trainer_eval.json`` by fidelity and mixture (resumable)."""
    from concurrent.futures import ProcessPoolExecutor

    from bomix.space import Fidelity

    fid = Fidelity.parse(at)
    scale, steps = fid.scale, fid.steps
    cache_file = out / "trainer_eval.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    domains = _trainer_backend(data).space.domains
    sums = [(f, json.loads(f.read_text())) for f in sorted(root.glob("trainer/*/seed*/summary.json"))]
    keys = {}
    for _, s in sums:
        w = [s["recommendation"][d] for d in domains]
        keys[f"{at}|" + json.dumps([round(x, 6) for x in w])] = w
    todo = [k for k in keys if k not in cache] if new else []
    from bomix.executors.parent_watch import die_with_parent, guard_args

    with ProcessPoolExecutor(max_workers=n_jobs, initializer=die_with_parent, initargs=guard_args()) as ex:
        futs = {k: ex.submit(_eval_one, data, scale, int(steps), keys[k], f"eval{i}") for i, k in enumerate(todo)}
        for k, f in futs.items():
            cache[k] = f.result()
            cache_file.write_text(json.dumps(cache, indent=1))
            print(f"evaluated at {at}: {cache[k]}", flush=True)
    from bomix.store import Store

    rows = []
    for f, s in sums:
        k = f"{at}|" + json.dumps([round(s["recommendation"][d], 6) for d in domains])
        st = Store(f.parent)
        results, _, _ = st.load(domains)
        st.close()
        online = [r for r in results if r.ok and r.spec.controller is not None]
        own = None
        if online:  # the online run itself (recipe at the proxy fidelity): its final mean validation loss
            row = online[-1].curve.final()
            own = float(np.mean([row[f"loss:{d}"] for d in domains]))
        ev = cache.get(k, {})
        rows.append({"policy": f.parent.parent.name, "seed": s["seed"], "recommendation": s["recommendation"],
                     "evaluated_at": at, "mean_val_loss": ev.get("value"), "eval_wall_s": ev.get("wall_s"),
                     "online_run": None if not online else str(online[-1].spec.fidelity),
                     "online_run_mean_val_loss": own, "campaign_wall_s": s["wall_time"],
                     "cost_used": s["budget_used"], "n_runs": s["n_runs"]})
    return rows


def trainer_summary(rows: list[dict]) -> list[dict]:
    """Per policy: median, min and max over seeds of the evaluated recommendation's mean validation loss
    (all at the same fidelity), of the online run's own final value, and of the campaign wall time."""
    out = []
    for pol in sorted({r["policy"] for r in rows}):
        rr = [r for r in rows if r["policy"] == pol]
        ev = np.array([r["mean_val_loss"] for r in rr if r["mean_val_loss"] is not None], dtype=float)
        own = np.array([r["online_run_mean_val_loss"] for r in rr if r["online_run_mean_val_loss"] is not None],
                       dtype=float)
        wall = np.array([r["campaign_wall_s"] for r in rr], dtype=float)
        stat = lambda a: (None, None, None) if not a.size else (float(np.median(a)), float(a.min()), float(a.max()))  # noqa: E731
        e, o, w = stat(ev), stat(own), stat(wall)
        out.append({"policy": pol, "n_seeds": len(rr), "n_evaluated": int(ev.size), "evaluated_at": rr[0]["evaluated_at"],
                    "eval_median": e[0], "eval_min": e[1], "eval_max": e[2],
                    "online_run_median": o[0], "online_run_min": o[1], "online_run_max": o[2],
                    "campaign_wall_s_median": w[0], "campaign_wall_s_total": float(wall.sum()),
                    "eval_wall_s_total": float(sum(r["eval_wall_s"] or 0.0 for r in rr))})
    return out


def final_table(root: Path) -> list[dict]:
    """Per (problem, policy): median and quartiles of the final regret over seeds, cost used, wall time."""
    rows = []
    for prob in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "trainer"):
        for pol_dir in sorted((root / prob).iterdir()):
            sums = [json.loads(f.read_text()) for f in sorted(pol_dir.glob("seed*/summary.json"))]
            if not sums:
                continue
            reg = np.array([s["regret"] for s in sums if s.get("regret") is not None], dtype=float)
            rows.append({
                "problem": prob, "policy": pol_dir.name, "n_seeds": len(sums),
                **{f"regret_{k}": v for k, v in (spread(reg) if reg.size else dict.fromkeys(SPREAD_KEYS)).items()},
                "regret_seeds": reg.tolist(),
                "clipped_at_0": not pol_dir.name.endswith("_target"),
                "cost_median": float(np.median([s["budget_used"] for s in sums])),
                "wall_s_median": float(np.median([s["wall_time"] for s in sums])),
                "wall_s_total": float(np.sum([s["wall_time"] for s in sums])),
                "recommendation_seed0": sums[0].get("recommendation"),
            })
    return rows


def reproduction_row() -> dict:
    """Regret on the RegMix simulator of the published mixtures in ``baselines_1b.csv`` (and uniform)."""
    import pandas as pd

    from bomix.backends.replay import ReplayBackend
    from bomix.objective import Objective

    b = ReplayBackend(str(ROOT / "simulator" / "regmix" / "built"))
    obj = Objective.from_config("pile_cc", b.metrics, b.default_objective)
    opt_w, opt_v = b.optimum(obj)
    df = pd.read_csv(ROOT / "simulator" / "regmix" / "baselines_1b.csv")
    cols = [f"w:{d}" for d in b.space.domains]
    out = {"simulator": "regmix (replay model of the sail-sg/regmix logged runs)", "objective": obj.name,
           "target": str(b.space.target), "optimum_value": float(opt_v), "rows": {}}
    from bomix.space import Mixture

    mixes = {r["name"]: np.asarray([r[c] for c in cols], dtype=float) for _, r in df.iterrows()}
    mixes["uniform"] = np.full(b.space.k, 1.0 / b.space.k)
    for name, w in mixes.items():
        v = b.true_value(Mixture(w / w.sum(), b.space.domains), b.space.target, obj)
        out["rows"][name] = {"true_value": float(v), "regret": float(v - opt_v),
                             "pile_cc_weight": float(w[b.space.domains.index("pile_cc")] / w.sum())}
    out["online_methods"] = ("not applicable: the RegMix replay simulator holds only logged static runs "
                             "(supports_controller = False); see the synthetic rows for our online methods")
    b.close()
    return out


def plot_final(rows: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = sorted({r["problem"] for r in rows})
    fig, axes = plt.subplots(1, len(probs), figsize=(6 * len(probs), 6), squeeze=False)
    for ax, prob in zip(axes[0], probs):
        rr = sorted([r for r in rows if r["problem"] == prob and r["regret_median"] is not None],
                    key=lambda r: r["regret_median"])
        y = np.arange(len(rr))
        med = np.array([r["regret_median"] for r in rr])
        lo = med - np.array([r["regret_q25"] for r in rr])
        hi = np.array([r["regret_q75"] for r in rr]) - med
        colors = ["tab:orange" if r["policy"].endswith("_target") else
                  ("tab:gray" if r["policy"] in BASELINES else "tab:blue") for r in rr]
        ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=2)
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_yticks(y, [r["policy"] for r in rr], fontsize=8)
        ax.set_xlabel("final regret vs best static mixture (median, IQR over seeds)")
        ax.set_title(f"synthetic, {prob.replace('rho', 'rho = ')}\nblue: proxy mode (clipped at 0), "
                     "orange: target mode (unclipped)", fontsize=9)
    fig.tight_layout()
    path = out / "final_regret.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_trajectories(root: Path, methods: list[str], out: Path, problems: list[str] | None = None,
                      folder: str = "trajectories") -> list[Path]:
    """One picture per method (``out/folder/<method>.png``): each domain's weight vs step in its seed-0
    online run, one panel per problem (default: the synthetic problems found under ``root``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bomix.store import Store

    paths = []
    (out / folder).mkdir(parents=True, exist_ok=True)
    probs = problems if problems is not None else sorted(p.name for p in root.iterdir()
                                                         if p.is_dir() and p.name != "trainer")
    for m in methods:
        fig, axes = plt.subplots(1, len(probs), figsize=(6 * len(probs), 4), squeeze=False)
        drawn = False
        for ax, prob in zip(axes[0], probs):
            d = root / prob / m / "seed0"
            if not (d / "store.sqlite").exists():
                continue
            st = Store(d)
            domains = st.get_meta("domains")
            results, _, _ = st.load(domains)
            st.close()
            online = [r for r in results if r.ok and "controller" in r.info]
            if not online:
                continue
            r = online[-1]
            tr = r.info["controller"]["trace"]
            W = np.asarray(tr["weights"])
            for i, dname in enumerate(domains):
                ax.plot(tr["steps"], W[:, i], label=dname)
            ax.set_xlabel("training step of the online proxy run")
            ax.set_ylabel("domain weight")
            ax.set_ylim(0, 1)
            where = "CPU trainer, demo corpus" if prob == "trainer" else prob.replace("rho", "rho = ")
            ax.set_title(f"{m}: {r.spec.fidelity}, {where} "
                         f"({r.spec.controller.apply})", fontsize=9)
            ax.legend(fontsize=7)
            drawn = True
        if drawn:
            fig.tight_layout()
            p = out / folder / f"{m}.png"
            fig.savefig(p, dpi=100)
            paths.append(p)
        plt.close(fig)
    return paths


def markdown(rows: list[dict], repro: dict) -> str:
    fmt = lambda x: "-" if x is None else f"{x:.4g}"  # noqa: E731
    lines = ["| problem | policy | seeds | final regret median [q25, q75] | cost used | wall s |",
             "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["problem"], r["regret_median"] if r["regret_median"] is not None else 9)):
        lines.append(f"| {r['problem']} | {r['policy']} | {r['n_seeds']} | {fmt(r['regret_median'])} "
                     f"[{fmt(r['regret_q25'])}, {fmt(r['regret_q75'])}] | {fmt(r['cost_median'])} | "
                     f"{fmt(r['wall_s_median'])} |")
    lines += ["", f"Reproduction on the RegMix simulator ({repro['objective']} at {repro['target']}; "
              f"optimum {repro['optimum_value']:.4f}):", "", "| mixture | Pile-CC weight | true value | regret |",
              "|---|---|---|---|"]
    for name, r in repro["rows"].items():
        lines.append(f"| {name} | {r['pile_cc_weight']:.4f} | {r['true_value']:.4f} | {r['regret']:.4f} |")
    lines.append(f"\nOur online methods on RegMix: {repro['online_methods']}.")
    return "\n".join(lines)


def trainer_markdown(rows: list[dict], proxy: str) -> str:
    if not rows:
        return "\n\nCPU trainer: not run in this invocation (pass --trainer data/demo)."
    fmt = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
    at = rows[0]["evaluated_at"]
    lines = ["", "", f"CPU trainer, demo corpus: online proxy runs at {proxy}; every recommendation trained once at "
             f"{at} (seed 0; '-' = not evaluated); mean validation loss over the 5 domains, lower is better (no "
             "ground truth, so no regret). Median over seeds [min, max]:", "",
             f"| policy | seeds | recommendation at {at} | online run itself ({proxy}) | campaign wall s (median) |",
             "|---|---|---|---|---|"]
    for r in sorted(trainer_summary(rows), key=lambda r: r["eval_median"] if r["eval_median"] is not None else 9e9):
        lines.append(f"| {r['policy']} | {r['n_evaluated']}/{r['n_seeds']} | {fmt(r['eval_median'])} "
                     f"[{fmt(r['eval_min'])}, {fmt(r['eval_max'])}] | {fmt(r['online_run_median'])} "
                     f"[{fmt(r['online_run_min'])}, {fmt(r['online_run_max'])}] | {r['campaign_wall_s_median']:.0f} |")
    lines += ["", "Per seed:", "", "| policy | seed | recommendation trained | online run itself | cost used | runs | "
              "campaign wall s | eval wall s |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["seed"], r["policy"])):
        ew = "-" if r["eval_wall_s"] is None else f"{r['eval_wall_s']:.0f}"
        lines.append(f"| {r['policy']} | {r['seed']} | {fmt(r['mean_val_loss'])} | {fmt(r['online_run_mean_val_loss'])} "
                     f"| {r['cost_used']:.3f} | {r['n_runs']} | {r['campaign_wall_s']:.0f} | {ew} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=3.0, help="target-run equivalents per campaign")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--policies", default="all", help="online methods (baselines always run)")
    ap.add_argument("--no-target", action="store_true", help="skip the target-mode campaigns")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "online_comparison"))
    ap.add_argument("--trainer", default=None, metavar="DATA_DIR",
                    help="also run every method on the CPU trainer with this demo corpus (bomix data demo)")
    ap.add_argument("--trainer-seeds", type=int, default=2)
    ap.add_argument("--trainer-budget", type=float, default=1.5)
    ap.add_argument("--trainer-proxy", default="0.2M@100", help="fidelity of the online methods' proxy runs")
    ap.add_argument("--trainer-eval", default="0.2M@250",
                    help="the one fidelity every recommendation is trained at (seed 0)")
    ap.add_argument("--no-run", action="store_true", help="start no campaign: aggregate (and evaluate) finished ones")
    ap.add_argument("--no-new-eval", action="store_true", help="use only cached trainer evaluations")
    args = ap.parse_args()
    from bomix.bench.sweep import check_names

    methods = METHODS if args.policies == "all" else check_names(args.policies.split(","), METHODS, "method")
    names = [] if args.problems in ("", "none") else args.problems.split(",")
    probs = {p: PROBLEMS[p] for p in check_names(names, PROBLEMS, "problem")}
    out = Path(args.out)
    root = out / "campaigns"
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / "online_comparison.json").read_text()) if (out / "online_comparison.json").exists() \
        else {}
    jobs = [] if args.no_run else jobs_for(root, probs, methods, range(args.seeds), args.budget, not args.no_target)
    wall = _run(jobs, args.jobs)
    if probs:
        rows, repro = final_table(root), reproduction_row()
        pngs = [plot_final(rows, out)] + plot_trajectories(root, methods, out)
        settings = {"seeds": args.seeds, "budget": args.budget, "problems": probs, "methods": methods,
                    "mfbo": MFBO, "target_mode": not args.no_target,
                    "notes": ["proxy-mode regret is clipped at 0 (like every policy); target-mode regret is the "
                              "recipe's true value at the target minus the best static mixture's (negative = gain)",
                              "the best static mixture is the dense optimum: regret 0 by definition",
                              "rho is forgetting per step of the synthetic law (1 = none)"]}
    else:  # --problems none: keep the synthetic results already written
        rows, repro, settings = previous.get("rows", []), previous.get("reproduction"), previous.get("settings", {})
        pngs = [out / p for p in previous.get("plots", []) if not p.startswith("trajectories/trainer/")]
        wall = previous.get("wall_s_this_invocation", wall)
    trainer_rows, trainer_meta = previous.get("trainer", []), previous.get("trainer_settings", {})
    if args.trainer:  # seed-major order: every method's seed 0 first
        data = str(Path(args.trainer).resolve())
        tj = [] if args.no_run else trainer_jobs(root, data, methods, range(args.trainer_seeds),
                                                 args.trainer_budget, args.trainer_proxy)
        t_runs = _run(sorted(tj, key=lambda j: int(j.labels["seed"])), args.jobs)
        t0 = time.perf_counter()
        trainer_rows = evaluate_trainer(root, data, out, args.trainer_eval, args.jobs, not args.no_new_eval)
        t_eval = time.perf_counter() - t0
        pngs += plot_trajectories(root, methods, out, problems=["trainer"], folder="trajectories/trainer")
        trainer_meta = {
            "overrides": TRAINER, "short_defaults": TRAINER_SHORT, "seeds": args.trainer_seeds,
            "budget": args.trainer_budget, "proxy_fidelity": args.trainer_proxy, "eval_fidelity": args.trainer_eval,
            "evaluation": f"every recommendation trained once at {args.trainer_eval} (seed 0); mean validation "
                          "loss over the 5 demo domains (no ground truth: lower is better)",
            "jobs": args.jobs, "wall_s_campaigns_this_invocation": t_runs, "wall_s_evaluation_this_invocation": t_eval,
            # every campaign's own wall time plus each distinct evaluation's (cached ones count once)
            "wall_s_total_campaigns": float(sum(r["campaign_wall_s"] for r in trainer_rows)),
            "wall_s_total_evaluations": float(sum(v["wall_s"] for k, v in json.loads(
                (out / "trainer_eval.json").read_text()).items() if k.startswith(f"{args.trainer_eval}|"))),
            "summary": trainer_summary(trainer_rows)}
    (out / "online_comparison.json").write_text(json.dumps(
        {"rows": rows, "reproduction": repro, "trainer": trainer_rows, "trainer_settings": trainer_meta,
         "settings": settings, "wall_s_this_invocation": wall,
         "campaign_wall_s_total": float(sum(r["wall_s_total"] for r in rows)),
         "plots": sorted({str(Path(p).relative_to(out)) for p in pngs})}, indent=1))
    from bomix.bench.cli import cli_main

    for prob in probs:  # the standard aggregation (regret vs cost, cost to reach eps) per problem
        cli_main([str(root / prob), "--out", str(out / f"bench_{prob}"), "--eps", "0.05", "0.02", "0.005"])
    md = (markdown(rows, repro) if repro else "") + trainer_markdown(trainer_rows, trainer_meta.get("proxy_fidelity", "?"))
    (out / "online_comparison.md").write_text(md + "\n")
    print(md)
    print(f"wrote {out / 'online_comparison.json'} and {len(pngs)} plots")


def _run(jobs: list, n_jobs: int) -> float:
    """Run the campaigns that are not done (printing each); returns the wall time."""
    from bomix.bench.sweep import run_jobs

    t0 = time.perf_counter()
    print(f"{sum(not j.done for j in jobs)} campaigns to run ({n_jobs} in parallel)", flush=True)
    for r in run_jobs(jobs, n_jobs):
        tag = f"{r['backend']:>9} {r['policy']:>22} seed {r['seed']}"
        if "crash" in r or "error" in r:
            print(f"{tag}: {'CRASHED' if 'crash' in r else 'error'}: {r.get('crash') or r.get('error')}", flush=True)
        else:
            reg = "n/a (no ground truth)" if r.get("regret") is None else f"{r['regret']:.4f}"
            print(f"{tag}: regret {reg}, cost {r['budget_used']:.3f}, {r['wall_s']:.0f} s", flush=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
