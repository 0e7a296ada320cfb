"""Every policy on replay simulators built from a logged ladder, the way a user's own logs are used.

The project's held-out check of the policies builds model-mode replay simulators (``bomix simulator build``)
from logged ladders it does not ship (a 5-domain pre-training ladder with checkpoints; an SFT ladder) and
runs every policy at budget 1. This benchmark reproduces that set-up on ladders the project can make:

- ``mfms``: runs of the MFMS simulator (needs ``BOMIX_MFMS_PATH``; its data has no licence, so the table
  and the simulator built from it stay under ``--work``, outside the repository), 60M / 300M / 1B with
  60 / 32 / 16 Dirichlet(1) mixtures, 13 checkpoints each (1500 ... 19500 steps), Gaussian noise
  ``--noise`` on every logged loss; objective the mean of the seven validation CEs; the five training
  domains' own losses are logged as ``loss:<domain>`` (what the per-domain laws read).
- ``synthetic``: the same ladder shape (20M / 150M / 1B, 13 checkpoints up to 13000 steps) from bomix's
  synthetic backend (5 domains), objective its target loss.
- ``heldout``: shaped like the held-out pre-training ladders (issue 23): 6 domains of the synthetic backend,
  four proxy scales with 26 runs x 13 checkpoints each, at constant compute per scale (70M to 97500 steps,
  150M to 46800, 300M to 23400, 600M to 11700), and the target scale (1B, 13 checkpoints to 19500 steps) with
  only 4 runs; the smallest scale's longest run costs 0.35 target-runs, so a law that runs its published design
  at its longest steps there fits 2 runs at budget 1 (the law policies now size it: see
  ``bomix.policies.laws.base``).

The simulator is the truth of its campaigns: regret is measured against its own optimum at the target
(the largest scale's last logged step). Besides final regret the table reports what the held-out check
flagged: the recommendation's largest weight (a one-domain mixture is ``>= 0.95``), whether a campaign
ran the target fidelity, and how much its final regret exceeds its best earlier recommendation's (``rise``).

Usage:
    BOMIX_MFMS_PATH=../shared/data/mfms python benchmarks/ladder_replay.py [--ladders mfms,synthetic]
        [--budget 1] [--seeds 10] [--seeds-for mfbo=3,dml=3] [--policies all|name,...] [--jobs 2] [--noise 0.005]
        [--work /tmp/bomix_ladder_replay] [--out benchmarks/results/ladder_replay]
    python benchmarks/ladder_replay.py --ladders heldout --policies uniform,regmix,regmix_linear,dml,hyperband,mfbo
        --budget 1 --seeds 5 --seeds-for mfbo=3,dml=3 --work /tmp/bomix_ladder_heldout
        --out benchmarks/results/ladder_replay/heldout/budget1   (and --budget 3 ... heldout/budget3)
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
from policy_comparison import (SIZES, checked_policies, overrides, run_and_print, table,  # noqa: E402
                               write_comparison)

#: ladder -> ((scale, runs), ...), checkpoint steps (every scale's; or scale -> its own)
LADDERS = {
    "mfms": ((("60M", 60), ("300M", 32), ("1B", 16)), tuple(range(1500, 19501, 1500))),
    "synthetic": ((("20M", 60), ("150M", 32), ("1B", 16)), tuple(range(1000, 13001, 1000))),
    "heldout": ((("70M", 26), ("150M", 26), ("300M", 26), ("600M", 26), ("1B", 4)),
                {s: tuple(range(d, 13 * d + 1, d)) for s, d in
                 (("70M", 7500), ("150M", 3600), ("300M", 1800), ("600M", 900), ("1B", 1500))}),
}
#: the held-out-shaped ladder's truth: parameter counts and domains (the synthetic backend's law)
HELDOUT = {"scales": {"70M": 7e7, "150M": 1.5e8, "300M": 3e8, "600M": 6e8, "1B": 1e9}, "k": 6}
#: the nine policies of the held-out check, plus the laws and RegMix
POLICIES = ["uniform", "random", "dml", "bimix", "regmix", "hyperband", "sfbo", "mfms_ei", "mfbo"]
#: a recommendation whose largest weight is at least this is called one-domain
ONE_DOMAIN = 0.95


def truth_backend(name: str, noise: float, seed: int):
    """The simulator the ladder's runs are drawn from, and its metric -> logged-name map."""
    if name == "mfms":
        from bomix.backends.mfms import MFMSBackend

        b = MFMSBackend(noise=noise, seed=seed)
        rename = {f"ce_{d}": f"loss:{d}" for d in b.space.domains}
        return b, rename
    from bomix.backends.synthetic import SyntheticBackend

    if name == "heldout":  # eval every 300 steps: every scale's checkpoints are multiples of it
        return SyntheticBackend(k=HELDOUT["k"], scales=HELDOUT["scales"], min_steps=300, max_steps=97500,
                                eval_every=300, noise=noise, seed=seed), {}
    return SyntheticBackend(k=5, noise=noise, seed=seed), {}


def checkpoints(name: str) -> dict[str, tuple[int, ...]]:
    """Scale -> the ladder's logged checkpoint steps there."""
    scales, steps = LADDERS[name]
    return {s: tuple(steps[s] if isinstance(steps, dict) else steps) for s, _ in scales}


def ladder_table(name: str, noise: float, seed: int = 0):
    """The logged-run table (``bomix.runtable`` format) of one ladder: Dirichlet(1) mixtures per scale,
    every run logged at the ladder's checkpoints."""
    from bomix.history import History
    from bomix.runs import RunSpec

    truth, rename = truth_backend(name, noise, seed)
    scales, _ = LADDERS[name]
    steps = checkpoints(name)
    rng = np.random.default_rng([seed, 2026])
    hist = History(truth.space, truth.default_objective)
    for scale, n in scales:
        for i, w in enumerate(rng.dirichlet(np.ones(truth.space.k), n)):
            spec = RunSpec(truth.space.mixture(w), scale, max(steps[scale]), seed=i, run_id=f"{scale}-{i}")
            hist.finish(truth.run(spec))
    t = hist.table()
    t = t[[int(st) in steps[sc] for sc, st in zip(t["scale"], t["step"])]].reset_index(drop=True)
    t = t.rename(columns={f"m:{k}": f"m:{v}" for k, v in rename.items()})
    metrics = [c[2:] for c in t.columns if c.startswith("m:") and not c.startswith("m:train_loss")]
    truth.close()
    return t[[c for c in t.columns if not c.startswith("m:") or c[2:] in metrics]], metrics


def build_simulator(name: str, work: Path, noise: float) -> Path:
    """The model-mode simulator of ``name`` under ``work`` (built once; reused while its table is unchanged)."""
    from bomix.backends.replay.build import build

    out = work / f"{name}_sim"
    tab, metrics = ladder_table(name, noise)
    csv = work / f"{name}_ladder.csv"
    work.mkdir(parents=True, exist_ok=True)
    text = tab.to_csv(index=False)
    if (out / "simulator.json").exists() and csv.exists() and csv.read_text() == text:
        return out
    csv.write_text(text)
    if name == "mfms":  # the seven validation CEs (the five training domains' own among them)
        metrics = [m for m in metrics if m.startswith(("ce_", "loss:"))]
        objective = {"name": "mean7_ce", "mean": metrics}
    else:
        metrics = [m for m in metrics if m.startswith("loss:")]
        objective = "loss:target"
    t0 = time.perf_counter()
    build(csv, out, mode="model", objective=objective, name=f"ladder-{name}", metrics=metrics, holdout=0.2)
    print(f"built {out} from {len(tab)} rows ({tab['run_id'].nunique()} runs) in {time.perf_counter() - t0:.0f} s",
          flush=True)
    return out


def campaign_facts(directory: Path) -> dict:
    """From one finished campaign: the final recommendation's largest weight, whether it ran the target
    fidelity, how far its final regret lies above its best recommendation's, and for a law its design (what
    ``policy_info["design"]`` says: fidelities, runs of the published design run) and whether it fell back."""
    from bomix.layout import CampaignLayout
    from bomix.store import StoreReader

    summary = json.loads(CampaignLayout(directory).summary.read_text())
    with StoreReader(directory) as store:
        best = store.best_recommendation()
    info = summary.get("policy_info") or {}
    design = info.get("design")
    return {"max_weight": float(max(summary["recommendation"].values())),
            "ran_target": bool(summary["reached_target"]),
            "rise": float(summary["regret"] - best["regret"]) if best else float("nan"),
            "design": None if design is None else
            f"{', '.join(f'{n} x {f}' for f, n in design['fidelities'].items())} ({design['choice']}, "
            f"{design['n_runs']}/{design['published_runs']} runs, cost {design['cost']:.3g})",
            "fallback": bool(info.get("fallback"))}


def git_state() -> dict:
    """The checkout the numbers were measured at: HEAD and ``git diff --stat``'s summary line (read-only git)."""
    import subprocess

    def git(*a):
        try:
            out = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True, timeout=30)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    stat = git("diff", "--stat")
    return {"head": git("rev-parse", "--short", "HEAD"), "diff_stat": stat.splitlines()[-1].strip() if stat else "",
            "changed_files": git("diff", "--name-only").splitlines() if stat else []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ladders", default="mfms,synthetic")
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seeds-for", default="", help="fewer seeds for slow policies: POLICY=N,... (N <= --seeds)")
    ap.add_argument("--policies", default="all")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--noise", type=float, default=0.005, help="sd of the Gaussian noise on every logged loss")
    ap.add_argument("--eps", default="0.02,0.01,0.005")
    ap.add_argument("--work", default="/tmp/bomix_ladder_replay", help="ladder tables, simulators, campaigns")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ladder_replay"))
    args = ap.parse_args()
    from bomix.bench.sweep import check_names, grid
    from bomix.bench.tables import summarize

    ladders = check_names([x for x in args.ladders.split(",") if x], LADDERS, "ladder")
    policies = checked_policies(args.policies, POLICIES)
    work, out = Path(args.work), Path(args.out)
    sims = {f"ladder-{n}-model": build_simulator(n, work, args.noise) for n in ladders}  # labels = simulator names
    root = work / f"campaigns_b{args.budget:g}"
    jobs = grid(root, {b: ["backend=replay", f"backend.path={p}"] for b, p in sims.items()},
                {p: overrides(p) for p in policies}, range(args.seeds), args.budget)
    seeds_for = {k: int(v) for k, v in (x.split("=") for x in args.seeds_for.split(",") if x)}
    jobs = [j for j in jobs if int(j.labels["seed"]) < seeds_for.get(j.labels["policy"], args.seeds)]
    t0 = time.perf_counter()
    print(f"{sum(not j.done for j in jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    errors: dict = {}
    list(run_and_print(jobs, args.jobs, errors))  # prints each campaign, records not-applicable policies
    wall = time.perf_counter() - t0
    eps = [float(e) for e in args.eps.split(",")]
    summary = summarize([root], eps=eps)
    rows, md = table(summary, errors, eps)
    facts: dict = {}
    for b in sims:
        for p in policies:
            per = [campaign_facts(Path(j.directory)) for j in jobs
                   if j.labels["backend"] == b and j.labels["policy"] == p and j.done]
            if per:
                facts[f"{b}/{p}"] = {
                    "one_domain": sum(f["max_weight"] >= ONE_DOMAIN for f in per),
                    "max_weight_median": float(np.median([f["max_weight"] for f in per])),
                    "ran_target": sum(f["ran_target"] for f in per),
                    "rise_median": float(np.median([f["rise"] for f in per])), "n": len(per),
                    "designs": sorted({f["design"] for f in per if f["design"]}),
                    "fallbacks": sum(f["fallback"] for f in per)}
    lines = ["| ladder | policy | one-domain recommendations | median largest weight | ran the target | "
             "median rise over best earlier recommendation | law design (policy_info) | fell back to the centre |",
             "|---|---|---|---|---|---|---|---|"]
    for k, f in facts.items():
        b, p = k.split("/")
        lines.append(f"| {b} | {p} | {f['one_domain']}/{f['n']} | {f['max_weight_median']:.3f} | "
                     f"{f['ran_target']}/{f['n']} | {f['rise_median']:.4g} | {'; '.join(f['designs']) or '-'} | "
                     f"{f['fallbacks']}/{f['n']} |")
    md = md + "\n\n" + "\n".join(lines)
    reports = {b: json.loads((p / "report.json").read_text()).get("objective", {}).get("pooled_r2")
               for b, p in sims.items() if (p / "report.json").exists()}
    settings = {"ladders": {n: {"scales": LADDERS[n][0], "steps": LADDERS[n][1]} for n in ladders},
                "noise": args.noise, "budget": args.budget, "seeds": args.seeds, "seeds_for": seeds_for,
                "policies": policies,
                "sizes": SIZES, "simulator_heldout_r2": reports, "git": git_state()}
    write_comparison(out, summary, {"rows": rows, "facts": facts, "settings": settings,
                                    "not_applicable": {"/".join(k): v for k, v in errors.items()}, "wall_s": wall},
                     md, wall)


if __name__ == "__main__":
    main()
