"""Calibration of a policy's predictions: does the true value of each recommendation lie within its predicted +- sd?

Every recommendation a campaign stores holds the policy's prediction of the recommended mixture's objective at the
target fidelity (``pred_mean``, ``pred_sd``) and, on a simulator, that mixture's true objective at the target
(``true_value``): the same quantity, so ``z = (true_value - pred_mean) / pred_sd`` is the standardized error of
the prediction. A calibrated model has |z| <= 1 for about 68% of its predictions and |z| <= 2 for about 95%; the
issue's target is 1-sd coverage in [0.6, 0.8] and 2-sd coverage in [0.9, 0.99]. Below the target the model is
overconfident (its sd too small, or its mean biased); above it, underconfident.

The campaigns are ordinary resumable ``bomix run`` campaigns (``bomix.bench.sweep``) of one policy on each
simulator x seed, under ``OUT/campaigns/<backend>/<label>/seed<k>`` (``label``: the policy, ``_quick`` for
``--quick``, and a hash of any extra overrides, so other settings never reuse a campaign); a finished one is
reused, an interrupted one resumes; ``--fresh`` runs them again (after the policy's code changed). Then every
stored recommendation with a prediction and a true value is read back (``bomix.store.StoreReader``) and scored:

- coverage: the fraction with |z| <= 1 and |z| <= 2, overall and per benchmark;
- the median |z| (0.67 for a calibrated Gaussian) and the median z (its sign: the prediction's bias; z > 0: the
  truth is worse than predicted);
- the same split early / late in each campaign: the first / second half of its predicted recommendations;
- fallback recommendations (a numerical fallback, not the model's answer) are counted; they are scored too, as their
  prediction is still the model's.

Writes ``OUT/calibration_<label>.json`` (settings, every number above, per campaign too), ``.md`` (the table it
prints) and ``.png`` (per benchmark: a histogram of z with the +-1 / +-2 sd bands and the standard normal density;
coverage against the position in the campaign).

Usage:
    python benchmarks/calibration.py [--policy mfbo] [--backends synthetic,regmix] [--seeds 5] [--budget B]
        [--quick] [--jobs 2] [--fresh] [--out benchmarks/results/calibration] [OVERRIDE ...]
    (OVERRIDE: more ``bomix run`` overrides for every campaign, e.g. policy.gp.maxiter=20)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import textwrap
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
#: simulator benchmarks: label -> overrides selecting backend and problem (policy_comparison's)
BACKENDS = {
    "synthetic": ["backend=synthetic"],
    "regmix": ["backend=regmix", "problem=regmix_pilecc"],
    "mfms": ["backend=mfms", "problem=mfms_stackexchange"],
    "mfms_mean7": ["backend=mfms", "problem=mfms_mean7"],
}
#: the issue's targets: 1-sd and 2-sd coverage
TARGET = {"cover1": (0.6, 0.8), "cover2": (0.9, 0.99)}
#: full runs: budget (target-run equivalents) and the policies' run caps (policy_comparison's sizes)
FULL = {"budget": 3.0, "sizes": {"mfbo": ["max_runs=250"], "sfbo": ["max_runs=60"], "mfms_ei": ["max_runs=60"]}}
#: --quick: a smaller budget, a small initial design and small optimiser sizes (about a minute a campaign on 2 cores)
QUICK = {"budget": 1.0, "sizes": {
    "mfbo": ["max_runs=30", "policy.n_init=10", "policy.gp.maxiter=20", "policy.search.raw_samples=32",
             "policy.search.starts=1", "policy.search.iters=5"],
    "sfbo": ["max_runs=20", "policy.n_init=4", "policy.gp.maxiter=20", "policy.search.raw_samples=32",
             "policy.search.starts=1", "policy.search.iters=5"],
}}
#: bins of the position in a campaign (fraction of its predicted recommendations) for the coverage curve
N_BINS = 5


def label_of(policy: str, quick: bool, extra: list[str]) -> str:
    """The campaigns' directory label: the policy, ``_quick``, and a hash of the extra overrides."""
    label = policy + ("_quick" if quick else "")
    if extra:
        label += "_" + hashlib.sha1(json.dumps(extra).encode()).hexdigest()[:8]
    return label


def read_campaign(directory: str | Path) -> list[dict]:
    """Every stored recommendation of one campaign: ``n_finished, budget_used, pred_mean, pred_sd, true_value,
    fallback`` (the prediction None where the policy had none, e.g. before its model)."""
    from bomix.store import StoreReader

    with StoreReader(directory) as st:
        rows = st.recommendation_rows()
    keep = ("n_finished", "budget_used", "pred_mean", "pred_sd", "true_value", "fallback")
    return [{k: r[k] for k in keep} for r in rows]


def standardized(rows: list[dict]) -> np.ndarray:
    """z = (true - mean) / sd of the rows with a prediction and a true value (inf: an exact miss with sd 0)."""
    out = []
    for r in rows:
        if r["pred_mean"] is None or r["true_value"] is None:
            continue
        err = float(r["true_value"]) - float(r["pred_mean"])
        sd = float(r["pred_sd"])
        out.append(err / sd if sd > 0 else (0.0 if err == 0 else math.copysign(math.inf, err)))
    return np.asarray(out, dtype=float)


def stats(z: np.ndarray) -> dict:
    """Coverage at 1 and 2 sd, median |z| and median z of standardized errors ``z`` (None for an empty set)."""
    if not len(z):
        return {"n": 0, "cover1": None, "cover2": None, "median_abs_z": None, "median_z": None}
    a = np.abs(z)
    return {"n": int(len(z)), "cover1": float(np.mean(a <= 1)), "cover2": float(np.mean(a <= 2)),
            "median_abs_z": float(np.median(a)), "median_z": float(np.median(z))}


def split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(early, late): the first and the second half of a campaign's predicted recommendations (the middle one of an
    odd number goes to the late half)."""
    scored = [r for r in rows if r["pred_mean"] is not None and r["true_value"] is not None]
    half = len(scored) // 2
    return scored[:half], scored[half:]


def positions(rows: list[dict]) -> np.ndarray:
    """Each scored recommendation's position in its campaign, in [0, 1) (its index / the number scored)."""
    n = sum(r["pred_mean"] is not None and r["true_value"] is not None for r in rows)
    return np.arange(n) / max(n, 1)


def calibration(campaigns: dict[str, list[dict]]) -> dict:
    """The report of campaigns ``{"backend/seed<k>": rows}``: overall, per benchmark (the label's first part),
    early / late, coverage per position bin, and per campaign."""
    by_backend: dict[str, dict[str, list]] = {}
    per_campaign = {}
    all_z, all_early, all_late = [], [], []
    for name, rows in sorted(campaigns.items()):
        backend = name.split("/")[0]
        z = standardized(rows)
        early, late = split(rows)
        ze, zl = standardized(early), standardized(late)
        b = by_backend.setdefault(backend, {"z": [], "early": [], "late": [], "pos": [], "n_recs": 0,
                                            "n_unpredicted": 0, "n_fallback": 0, "n_campaigns": 0})
        for key, value in (("z", z), ("early", ze), ("late", zl), ("pos", positions(rows))):
            b[key].append(value)
        n_unpredicted = sum(r["pred_mean"] is None for r in rows)
        n_fallback = sum(bool(r["fallback"]) for r in rows)
        b["n_recs"] += len(rows)
        b["n_unpredicted"] += n_unpredicted
        b["n_fallback"] += n_fallback
        b["n_campaigns"] += 1
        all_z.append(z)
        all_early.append(ze)
        all_late.append(zl)
        per_campaign[name] = {**stats(z), "n_recs": len(rows), "n_unpredicted": n_unpredicted,
                              "n_fallback": n_fallback, "early": stats(ze), "late": stats(zl)}
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    per_backend = {}
    for backend, b in by_backend.items():
        z, pos = cat(b["z"]), cat(b["pos"])
        bins = np.minimum((pos * N_BINS).astype(int), N_BINS - 1)
        per_backend[backend] = {
            **stats(z), "early": stats(cat(b["early"])), "late": stats(cat(b["late"])),
            "by_position": [{"from": i / N_BINS, "to": (i + 1) / N_BINS, **stats(z[bins == i])} for i in range(N_BINS)],
            "n_recs": b["n_recs"], "n_unpredicted": b["n_unpredicted"], "n_fallback": b["n_fallback"],
            "n_campaigns": b["n_campaigns"], "z": [float(x) for x in z]}
    overall = {**stats(cat(all_z)), "early": stats(cat(all_early)), "late": stats(cat(all_late)),
               "n_fallback": sum(b["n_fallback"] for b in by_backend.values())}
    return {"target": {k: list(v) for k, v in TARGET.items()}, "overall": overall, "per_benchmark": per_backend,
            "campaigns": per_campaign}


def verdict(s: dict) -> str:
    """``ok`` when both coverages are in the target ranges, else what is off (overconfident / underconfident)."""
    if s["n"] == 0:
        return "-"
    out = []
    for key, name in (("cover1", "1 sd"), ("cover2", "2 sd")):
        lo, hi = TARGET[key]
        if s[key] < lo:
            out.append(f"{name} low")
        elif s[key] > hi:
            out.append(f"{name} high")
    return "ok" if not out else ", ".join(out) + (" (overconfident)" if any("low" in o for o in out) else
                                                  " (underconfident)")


def table(report: dict) -> str:
    """The markdown table: one row per benchmark and one overall."""
    fmt = lambda x, d=2: "-" if x is None else (f"{x:.{d}f}" if math.isfinite(x) else str(x))  # noqa: E731
    head = ["benchmark", "scored", "fallbacks", "cover 1 sd", "cover 2 sd", "median abs z", "median z",
            "early 1 sd / 2 sd", "late 1 sd / 2 sd", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = [(b, s) for b, s in sorted(report["per_benchmark"].items())] + [("overall", report["overall"])]
    for name, s in rows:
        lines.append("| " + " | ".join([
            name, str(s["n"]), str(s["n_fallback"]), fmt(s["cover1"]), fmt(s["cover2"]), fmt(s["median_abs_z"]),
            fmt(s["median_z"], 2), f"{fmt(s['early']['cover1'])} / {fmt(s['early']['cover2'])}",
            f"{fmt(s['late']['cover1'])} / {fmt(s['late']['cover2'])}", verdict(s)]) + " |")
    t1, t2 = TARGET["cover1"], TARGET["cover2"]
    lines.append(f"\ntarget: 1-sd coverage {t1[0]}-{t1[1]}, 2-sd coverage {t2[0]}-{t2[1]} (a calibrated Gaussian: "
                 "0.68 / 0.95, median abs z 0.67); z = (true - predicted) / sd, z > 0: worse than predicted")
    return "\n".join(lines)


def plot(report: dict, path: Path, title: str) -> Path | None:
    """Per benchmark: a histogram of z (clipped to +-8) with the +-1 / +-2 sd bands and the N(0, 1) density;
    below, 1-sd and 2-sd coverage against the position in the campaign with the target ranges shaded."""
    per = report["per_benchmark"]
    names = [b for b in sorted(per) if per[b]["n"]]
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(names), figsize=(4.6 * len(names), 7.2), squeeze=False)
    clip = 8.0
    grid = np.linspace(-clip, clip, 400)
    for j, b in enumerate(names):
        s, ax = per[b], axes[0, j]
        z = np.clip(np.asarray(s["z"]), -clip, clip)
        ax.axvspan(-2, 2, color="tab:green", alpha=0.08, label="±2 sd")
        ax.axvspan(-1, 1, color="tab:green", alpha=0.15, label="±1 sd")
        ax.hist(z, bins=np.linspace(-clip, clip, 33), density=True, color="tab:blue", alpha=0.7,
                label=f"z of {s['n']} recommendations")
        ax.plot(grid, np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi), color="black", lw=1, label="N(0, 1)")
        ax.set_title(f"{b}: within 1 sd {s['cover1']:.2f}, 2 sd {s['cover2']:.2f}\nmedian |z| {s['median_abs_z']:.2f}, "
                     f"median z {s['median_z']:+.2f}", fontsize=10)
        beyond = int(np.sum(np.abs(np.asarray(s["z"])) > clip))
        ax.set_xlabel(f"z = (true - predicted) / sd (clipped to ±{clip:g}"
                      + (f": {beyond} beyond)" if beyond else ")"))
        ax.set_xlim(-clip, clip)
        if j == 0:
            ax.set_ylabel("density")
            ax.legend(fontsize=8, loc="best")
        ax = axes[1, j]
        mids = [(p["from"] + p["to"]) / 2 for p in s["by_position"]]
        for key, color, lab in (("cover1", "tab:blue", "1 sd"), ("cover2", "tab:orange", "2 sd")):
            lo, hi = TARGET[key]
            ax.axhspan(lo, hi, color=color, alpha=0.12)
            ys = [np.nan if p[key] is None else p[key] for p in s["by_position"]]
            ax.plot(mids, ys, marker="o", color=color, label=f"within {lab} (target shaded)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, 1)
        ax.set_xlabel("position in the campaign (fraction of its recommendations)")
        if j == 0:
            ax.set_ylabel("coverage")
            ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(textwrap.fill(title, 60 * len(names)), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default="mfbo", help="a conf/policy name (default mfbo)")
    ap.add_argument("--backends", default="synthetic,regmix", help=f"comma-separated, of {sorted(BACKENDS)}")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=None,
                    help=f"target-run equivalents per campaign (default {FULL['budget']:g}, "
                         f"--quick {QUICK['budget']:g})")
    ap.add_argument("--quick", action="store_true", help="small budget, initial design and optimiser sizes")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--fresh", action="store_true", help="run the campaigns again (delete this label's campaigns)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "calibration"))
    ap.add_argument("overrides", nargs="*", help="more bomix run overrides for every campaign")
    args = ap.parse_args(argv)
    from bomix.bench.sweep import check_names, grid, policy_names, run_jobs

    check_names([args.policy], policy_names(), "policy")
    backends = check_names([b for b in args.backends.split(",") if b], BACKENDS, "backend")
    mode = QUICK if args.quick else FULL
    budget = float(args.budget if args.budget is not None else mode["budget"])
    label = label_of(args.policy, args.quick, list(args.overrides))
    policy_over = [f"policy={args.policy}", *mode["sizes"].get(args.policy, []), *args.overrides]
    out = Path(args.out)
    root = out / "campaigns"
    jobs = grid(root, {b: BACKENDS[b] for b in backends}, {label: policy_over}, range(args.seeds), budget)
    if args.fresh:
        for j in jobs:
            shutil.rmtree(j.directory, ignore_errors=True)
    t0 = time.perf_counter()
    print(f"{sum(not j.done for j in jobs)} of {len(jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    crashed = {}
    for r in run_jobs(jobs, args.jobs):
        head = f"{r['backend']:>10} seed {r['seed']}"
        if "crash" in r or "error" in r:
            crashed[f"{r['backend']}/seed{r['seed']}"] = r.get("crash") or r.get("error")
            print(f"{head}: FAILED: {r.get('crash') or r.get('error')}", flush=True)
        else:
            regret = "-" if r.get("regret") is None else f"{r['regret']:.4g}"
            print(f"{head}: regret {regret}, cost {r['budget_used']:.3g} in {r['n_runs']} runs, {r['wall_s']:.0f} s",
                  flush=True)
    wall = time.perf_counter() - t0
    campaigns = {f"{j.labels['backend']}/seed{j.labels['seed']}": read_campaign(j.directory)
                 for j in jobs if j.done}
    report = calibration(campaigns)
    report["settings"] = {"policy": args.policy, "label": label, "backends": {b: BACKENDS[b] for b in backends},
                          "seeds": args.seeds, "budget": budget, "quick": args.quick, "overrides": policy_over,
                          "campaigns": str(root)}
    report["failed"] = crashed
    report["wall_s"] = wall
    md = table(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"calibration_{label}.json").write_text(json.dumps(report, indent=1))
    (out / f"calibration_{label}.md").write_text(md + "\n")
    png = plot(report, out / f"calibration_{label}.png",
               f"{args.policy}: prediction at the target vs the true value of each recommendation "
               f"({args.seeds} seeds, budget {budget:g}{', quick' if args.quick else ''})")
    print(md)
    print(f"wall time {wall:.0f} s; wrote {out / f'calibration_{label}.json'}, .md" + (", .png" if png else ""))
    return report


if __name__ == "__main__":
    main()
