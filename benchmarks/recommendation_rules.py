"""Recommendation rules, paired on the same campaigns (issue 23 item 2): mfbo's argmax of its target posterior
against the same argmax shrunk towards the prior mixture (``policy.rec_shrink=z``: to the point nearest the prior within
``z`` posterior sds of the argmax; ``pbest``: to the expected position of the best point between them;
:mod:`bomix.policies.bo.shrink`), the argmax of mean - kappa sd for other ``rec_kappa`` (the baseline ``argmax`` is
kappa 1, ``BASELINE_KAPPA``: mfbo's default until 2026-12-07; mfbo's default is now 2, the ``kappa2`` row), RegMix's rule
on the GP (``rec_topk=n``: the mean of the n best of 100k Dirichlet(prior) mixtures by posterior mean at the target),
the argmax kept near the campaign's runs (``rec_evidence=q``), the posterior mean of the optimum's position
(``centre``: ``rec_centre``), the candidate with the smallest q-quantile of posterior regret (``robust<q>``:
``rec_robust=q``), and mfbo's recommendation on contrasts (``contrast``: the argmax of E[D] - sd[D], D the
target value's difference with the incumbent's).

A recommendation rule does not change a campaign's decisions (they never read the recommendation), so each
problem's mfbo campaigns are run once (ordinary resumable ``bomix run`` campaigns under
``WORK/campaigns/<problem>/mfbo/seed<k>``, with mfbo's default rule) and every rule then recommends from the same final
history: the comparison is paired, seed by seed. Per problem and rule: median final target regret with its IQR and
90th percentile over seeds, uniform weights' regret (the tail target: p90 no worse than it), how many final
recommendations lie inside the simulator's trust region (where it has one) and how many are one-domain
(largest weight >= 0.95), and per seed whether the rule beat the argmax.

Problems (``--problems``): ``demo`` (the README demo: ``+experiment=demo``, RegMix simulator, budget 2, 540-run cap),
``heldout1`` / ``heldout3`` (the held-out-shaped ladder of ``benchmarks/ladder_replay.py`` at budgets 1 and 3, its
mfbo run cap of 250),
``demo0.05`` / ``demo0.5`` (the demo's problem at budgets 0.05 / 0.5, mfbo capped at its design + 10 decisions: 76 /
290 runs), ``synthetic`` (the default synthetic backend, budget 3, mfbo capped at 120 runs: exactly its budget-sized initial
design, so no decision is made), ``synthetic250`` (the same with 250 runs: the design, then 130 decisions), ``mfms`` (MFMS StackExchange,
budget 6, 120 runs). On the demo's problems RegMix's recipe (512 runs at 1M, its own campaigns) is run beside it as the reference
the issue sets (mfbo <= it).

Usage: python benchmarks/recommendation_rules.py [--problems demo,heldout1,heldout3,synthetic] [--seeds 10]
    [--z 0.5,1,2] [--baseline-kappa 1] [--kappa 0,2] [--topk 128] [--robust 0.75,0.9] [--jobs 2] [--work /tmp/bomix_rec_rules]
    [--out benchmarks/results/recommendation_rules]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder_replay import ONE_DOMAIN, build_simulator, git_state  # noqa: E402
from many_domains import MFBO_DECISIONS, backend_overrides, mfbo_max_runs  # noqa: E402
from seed_stats import spread  # noqa: E402

#: the ``argmax`` row's rec_kappa, which every other row is paired against (mfbo's default until 2026-12-07: the
#: committed tables were made with it; mfbo's default is now 2, the ``kappa2`` row)
BASELINE_KAPPA = 1.0
#: problem -> mfbo's own extra overrides (its run cap where the problem's default does not fit)
MFBO_CAPS = {"demo0.05": ["max_runs=76"], "demo0.5": ["max_runs=290"]}
#: problem -> another policy's own campaigns, run beside mfbo's as the reference to beat (label, overrides)
REFERENCES = {d: ("regmix512", ["policy=regmix", "policy.n_runs=512"]) for d in ("demo", "demo0.05", "demo0.5")}
#: problem -> (overrides, budget); the held-out ladder's simulator path is filled in at run time
PROBLEMS = {
    "demo": (["+experiment=demo"], 2.0),
    # the demo's problem at the other budgets; mfbo capped like the demo (its design, then 10 decisions of 4)
    "demo0.05": (["+experiment=demo"], 0.05),
    "demo0.5": (["+experiment=demo"], 0.5),
    "heldout1": (["backend=replay", "policy=mfbo", "max_runs=250"], 1.0),
    "heldout3": (["backend=replay", "policy=mfbo", "max_runs=250"], 3.0),
    # 120 runs = mfbo's budget-sized initial design at 20M@500 (2% of 3 target-runs): no decision; the rows measured
    # with it (before 2026-12-08) compare rules on the design alone. synthetic250: policy_comparison's cap, 130 decisions
    "synthetic": (["backend=synthetic", "policy=mfbo", "max_runs=120"], 3.0),
    "synthetic250": (["backend=synthetic", "policy=mfbo", "max_runs=250"], 3.0),
    "mfms": (["backend=mfms", "problem=mfms_stackexchange", "policy=mfbo", "max_runs=120"], 6.0),
    # benchmarks/many_domains.py's problems and mfbo campaigns (same overrides: its campaign directories can be reused)
    **{f"k{k}": ([*backend_overrides(k), "policy=mfbo", f"max_runs={mfbo_max_runs(k, 0.5, MFBO_DECISIONS)}"], 0.5)
       for k in (32, 64)},
}


def problem_overrides(name: str, work: Path) -> list[str]:
    over, _ = PROBLEMS[name]
    if name.startswith("heldout"):
        return [*over, f"backend.path={build_simulator('heldout', work, 0.005)}"]
    return list(over)


def evaluate(directory: Path, overrides: list[str], budget: float, zs: list[float], kappas: list[float],
             topks: list[int] = (), evidence: list[float] = (), baseline_kappa: float = BASELINE_KAPPA,
             robust: list[float] = ()) -> dict:
    """Every rule's final recommendation from one finished campaign's history, scored on the simulator; every rule
    but the ``kappa*`` rows uses ``baseline_kappa`` (the ``argmax`` row's, and the argmax the hedges start from)."""
    from bomix.app import build, compose
    from bomix.history import History
    from bomix.store import StoreReader

    seed = int(directory.name.removeprefix("seed"))
    backend, policy, _, _, _ = build(compose([*overrides, f"seed={seed}"]))
    try:
        problem = policy.problem
        space, obj, t = problem.space, problem.objective, problem.space.target
        with StoreReader(directory) as store:
            results, _, spent = store.load(space.domains)
        history = History(space, obj, results, [], budget, spent)
        _, v_opt = backend.optimum(obj)
        out = {"seed": seed, "n_runs": len(results), "spent": float(spent),
               "uniform": float(backend.true_value(space.center(t), t, obj) - v_opt), "rules": {}}
        plain = {"rec_kappa": baseline_kappa, "rec_shrink": None, "rec_topk": None, "rec_evidence": None,
                 "rec_centre": False, "rec_robust": None,
                 **({"contrasts": policy.contrasts} if hasattr(policy, "contrasts") else {})}
        rules = {"argmax": {}, **{f"shrink{z:g}": {"rec_shrink": z} for z in zs}, "pbest": {"rec_shrink": "pbest"},
                 **{f"kappa{k:g}": {"rec_kappa": k} for k in kappas}, **{f"topk{n}": {"rec_topk": n} for n in topks},
                 **{f"evidence{q:g}": {"rec_evidence": q} for q in evidence},
                 "centre": {"rec_centre": True},  # the posterior mean of the optimum's position
                 **{f"robust{q:g}": {"rec_robust": q} for q in robust},  # least q-quantile of posterior regret
                 # mfbo's rec on contrasts: E[D] - kappa sd[D], D = f_T(w) - f_T(incumbent) (the level cancels)
                 **({"contrast": {"contrasts": True}} if hasattr(policy, "contrasts") else {})}
        for label, change in rules.items():  # one policy (one fitted model) for every rule: the rule is the only change
            for key, value in {**plain, **change}.items():
                setattr(policy, key, value)
            policy._rec_cache, policy._shrunk = {}, None
            mix = policy.recommend(history)
            out["rules"][label] = {
                "regret": float(backend.true_value(mix, t, obj) - v_opt),
                "extrapolated": backend.extrapolated(mix, t),
                "max_weight": float(np.max(mix.weights)), "shrink": policy.diagnostics().get("shrink"),
                "mixture": dict(zip(space.domains, np.round(mix.weights, 4).tolist()))}
        return out
    finally:
        backend.close()


def _one_thread() -> None:
    """Evaluation workers use one torch thread each (as ``bomix.bench`` campaigns do)."""
    import torch

    torch.set_num_threads(1)


def reference(directory: Path) -> dict:
    """A reference policy's final regret and trust-region flag, from its campaign's summary.json."""
    from bomix.layout import CampaignLayout

    s = json.loads(CampaignLayout(directory).summary.read_text())
    return {"regret": float(s["regret"]), "extrapolated": s.get("extrapolated")}


def summarize_reference(refs: list[dict]) -> dict:
    return {"n_seeds": len(refs), **spread([r["regret"] for r in refs]),
            "inside_trust_region": sum(r["extrapolated"] is False for r in refs)}


def aggregate(per_seed: list[dict]) -> dict:
    """Per rule: median / IQR / p90 regret, trust region and one-domain counts, paired wins against argmax."""
    rules = list(per_seed[0]["rules"])
    uniform = float(np.median([s["uniform"] for s in per_seed]))
    out = {"n_seeds": len(per_seed), "uniform_regret": uniform, "rules": {}}
    base = np.array([s["rules"]["argmax"]["regret"] for s in per_seed])
    for r in rules:
        reg = np.array([s["rules"][r]["regret"] for s in per_seed])
        ex = [s["rules"][r]["extrapolated"] for s in per_seed]
        out["rules"][r] = {
            **spread(reg), "p90_le_uniform": bool(np.quantile(reg, 0.9) <= uniform),
            "inside_trust_region": sum(e is False for e in ex), "trust_known": sum(e is not None for e in ex),
            "one_domain": int(sum(s["rules"][r]["max_weight"] >= ONE_DOMAIN for s in per_seed)),
            "better_than_argmax": int(np.sum(reg < base - 1e-9)), "worse_than_argmax": int(np.sum(reg > base + 1e-9)),
            "median_paired_diff": float(np.median(reg - base)), "mean_paired_diff": float(np.mean(reg - base))}
    return out


def markdown(results: dict) -> str:
    lines = ["| problem | rule | seeds | final regret median [IQR] | p90 (uniform's regret) | inside trust region | "
             "one-domain | better / worse than argmax (median / mean paired difference) |", "|" + "---|" * 8]
    for name, agg in results.items():
        ref = agg.get("reference")
        if ref:
            lines.append(f"| {name} | {ref['policy']} (reference: its own campaigns) | {ref['n_seeds']} | "
                         f"{ref['median']:.4f} [{ref['q25']:.4f}, {ref['q75']:.4f}] | {ref['p90']:.4f} | "
                         f"{ref['inside_trust_region']}/{ref['n_seeds']} | - | - |")
        for r, a in agg["rules"].items():
            tr = f"{a['inside_trust_region']}/{a['trust_known']}" if a["trust_known"] else "no trust region"
            lines.append(f"| {name} | {r} | {agg['n_seeds']} | {a['median']:.4f} [{a['q25']:.4f}, {a['q75']:.4f}] | "
                         f"{a['p90']:.4f} ({agg['uniform_regret']:.4f}) | {tr} | {a['one_domain']} | "
                         f"{a['better_than_argmax']} / {a['worse_than_argmax']} ({a['median_paired_diff']:+.4f} / "
                         f"{a.get('mean_paired_diff', float('nan')):+.4f}) |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    from plotting import log_regret, panels, save

    fig, axes = panels(len(results), 3.6, 3.4, cols=3)
    for ax, (name, agg) in zip(axes.flat, results.items()):
        rules = list(agg["rules"])
        med = [agg["rules"][r]["median"] for r in rules]
        lo = [m - agg["rules"][r]["q25"] for m, r in zip(med, rules)]
        hi = [agg["rules"][r]["q75"] - m for m, r in zip(med, rules)]
        x = np.arange(len(rules))
        ax.errorbar(x, med, yerr=[lo, hi], fmt="o", capsize=3, label="median [IQR]")
        ax.plot(x, [agg["rules"][r]["p90"] for r in rules], "v", color="C3", label="p90")
        ax.axhline(agg["uniform_regret"], color="grey", ls=":", label="uniform")
        if agg.get("reference"):
            ref = agg["reference"]
            ax.axhline(ref["median"], color="C2", ls="--", label=f"{ref['policy']} (median)")
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi * 6)  # room above the markers for the legend (a log axis)
            ax.legend(fontsize=7)
        ax.set_xticks(x, rules, rotation=45, ha="right", fontsize=7)
        log_regret(ax, f"{name} ({agg['n_seeds']} seeds)", "final target regret")
    save(fig, axes, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="demo,heldout1,heldout3,synthetic")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--z", default="0.5,1,2", help="rec_shrink values (sds) compared with the argmax")
    ap.add_argument("--baseline-kappa", type=float, default=BASELINE_KAPPA,
                    help="rec_kappa of the argmax row and of every hedge's starting argmax (2: mfbo's default)")
    ap.add_argument("--kappa", default="0,2",
                    help="other rec_kappa values (argmax of mean - kappa sd; the argmax row: 1)")
    ap.add_argument("--topk", default="128", help="rec_topk values (top-k mean of 100k prior draws)")
    ap.add_argument("--evidence", default="0.5,0.9",
                    help="rec_evidence values (the argmax kept within that quantile of the runs' nearest-neighbour distances)")
    ap.add_argument("--robust", default="0.75,0.9", help="rec_robust values (quantiles of posterior regret)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default="/tmp/bomix_rec_rules", help="simulators and campaigns")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "recommendation_rules"))
    args = ap.parse_args()
    from bomix.bench.sweep import Job, check_names, run_jobs

    names = check_names([p for p in args.problems.split(",") if p], PROBLEMS, "problem")
    zs = [float(z) for z in args.z.split(",") if z]
    kappas = [float(k) for k in args.kappa.split(",") if k]
    topks = [int(n) for n in args.topk.split(",") if n]
    evidence = [float(q) for q in args.evidence.split(",") if q]
    robust = [float(q) for q in args.robust.split(",") if q]
    work, out = Path(args.work), Path(args.out)
    t0 = time.perf_counter()
    jobs = []
    for name in names:
        over = problem_overrides(name, work)
        budget = PROBLEMS[name][1]
        for s in range(args.seeds):
            jobs.append(Job(str(work / "campaigns" / name / "mfbo" / f"seed{s}"),
                            (*over, *MFBO_CAPS.get(name, []), f"seed={s}", f"budget={budget}", "progress=false"),
                            {"problem": name, "seed": str(s)}))
        if name in REFERENCES:
            label, ref = REFERENCES[name]
            for s in range(args.seeds):
                jobs.append(Job(str(work / "campaigns" / name / label / f"seed{s}"),
                                (*over, *ref, f"seed={s}", f"budget={budget}", "progress=false"),
                                {"problem": name, "seed": str(s), "reference": label}))
    print(f"{sum(not j.done for j in jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    for r in run_jobs(jobs, args.jobs):
        print(f"{r['problem']:>10} seed {r['seed']}: regret {r.get('regret')} runs {r.get('n_runs')} "
              f"{r.get('crash') or r.get('error') or ''} ({r['wall_s']:.0f} s)", flush=True)
    results, per = {}, {}
    tasks = {name: [(Path(j.directory), problem_overrides(name, work), PROBLEMS[name][1], zs, kappas, topks, evidence,
                     args.baseline_kappa, robust) for j in jobs if j.labels["problem"] == name and j.done and "reference" not in j.labels]
             for name in names}
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:  # each campaign's rules in its own process
        futures = {name: [pool.submit(evaluate, *t) for t in ts] for name, ts in tasks.items()}
        for name in names:
            per[name] = [f.result() for f in futures[name]]
    for name in names:
        if per[name]:
            results[name] = aggregate(per[name])
            refs = [reference(Path(j.directory)) for j in jobs
                    if j.labels["problem"] == name and j.done and "reference" in j.labels]
            if refs:
                results[name]["reference"] = {"policy": REFERENCES[name][0], **summarize_reference(refs)}
    md = markdown(results)
    print(md)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"problems": {n: {"overrides": PROBLEMS[n][0], "budget": PROBLEMS[n][1]} for n in names},
                "seeds": args.seeds, "z": zs, "kappa": kappas, "baseline_kappa": args.baseline_kappa, "topk": topks,
                "evidence": evidence, "robust": robust, "git": git_state(),
                "wall_s": time.perf_counter() - t0}
    (out / "recommendation_rules.json").write_text(json.dumps({"settings": settings, "results": results,
                                                               "per_seed": per}, indent=1))
    (out / "recommendation_rules.md").write_text(md + "\n")
    plot(results, out / "recommendation_rules.png")
    print(f"wrote {out}/recommendation_rules.{{json,md,png}}")


if __name__ == "__main__":
    main()
