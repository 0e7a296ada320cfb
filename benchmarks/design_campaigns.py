"""mfbo's settings in whole campaigns, paired seed by seed: two arms of :data:`ARMS`, by default mfbo's initial
designs, ``policy.init_design`` = ``dirichlet`` (the default: Dirichlet draws from sparse to near the prior) against
``simplex`` (uniform on the simplex, mfbo's design until 2026-12-06); ``--arms chunk0,chunk256`` compares
``policy.gp.posterior_chunk`` 0 (one q-batch of single points: mfbo's default until 2026-12-07 session 18, the
``dirichlet`` arm of the committed runs) with 256 (joint posteriors of 256 candidates in the acquisition search:
the same values to rounding, several times faster at thousands of observations; the default since);
``--arms chunk256,lsprior`` compares today's default with ``policy.gp.lengthscale_prior=true``. On
:mod:`recommendation_rules`'s problems (the same overrides and run caps). Each campaign is an ordinary resumable ``bomix run`` under
``WORK/campaigns/<problem>/<arm>/seed<k>`` (2 at a time, 1 torch thread each), so a reference arm's campaigns serve
every comparison with it.

Per problem and arm: median final target regret with its IQR and 90th percentile over seeds, uniform weights'
regret, how many final recommendations are one-domain (largest weight >= 0.95), and per seed whether the second arm
beat the first. MFMS is ``benchmarks/mfms_speedup.py``'s job (variant ``mfbo_simplex``).

Usage: python benchmarks/design_campaigns.py [--arms dirichlet,simplex] [--problems synthetic,k32,k64,heldout1,heldout3]
    [--seeds 10] [--jobs 2] [--work /tmp/bomix_design] [--out benchmarks/results/design_campaigns]
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
from ladder_replay import ONE_DOMAIN, git_state  # noqa: E402
from recommendation_rules import MFBO_CAPS, PROBLEMS, problem_overrides  # noqa: E402
from seed_stats import spread  # noqa: E402

#: arm -> the overrides that make it (the first arm of ``--arms`` is the reference)
ARMS = {"dirichlet": ["policy.init_design=dirichlet"], "simplex": ["policy.init_design=simplex"],
        "chunk0": ["policy.gp.posterior_chunk=0"], "chunk256": ["policy.gp.posterior_chunk=256"],
        "lsprior": ["policy.gp.posterior_chunk=256", "policy.gp.lengthscale_prior=true"]}


def final(directory: Path) -> dict:
    """The finished campaign's final recommendation (its summary.json): regret, largest weight, uniform's regret."""
    from bomix.layout import CampaignLayout

    s = json.loads(CampaignLayout(directory).summary.read_text())
    return {"seed": int(directory.name.removeprefix("seed")), "regret": float(s["regret"]), "n_runs": int(s["n_runs"]),
            "budget_used": float(s["budget_used"]), "max_weight": float(max(s["recommendation"].values())),
            "uniform": float(s["uniform_regret"])}


def aggregate(rows: dict[str, list[dict]]) -> dict:
    """Per arm (``rows``: reference arm first): median [IQR], p90, one-domain count; per seed: the second arm better /
    worse than the first (``better``, ``worse``)."""
    out = {}
    for arm, rs in rows.items():
        out[arm] = {**spread([x["regret"] for x in rs]),
                    "one_domain": int(sum(x["max_weight"] >= ONE_DOMAIN for x in rs)), "n": len(rs)}
    ref, other = list(rows)
    a = {x["seed"]: x["regret"] for x in rows[ref]}
    b = {x["seed"]: x["regret"] for x in rows[other]}
    both = sorted(set(a) & set(b))
    out["better"] = sum(b[s] < a[s] for s in both)
    out["worse"] = sum(b[s] > a[s] for s in both)
    out["uniform_median"] = float(np.median([x["uniform"] for x in rows[ref]]))
    return out


def markdown(results: dict, arms: tuple[str, str] = ("dirichlet", "simplex")) -> str:
    ref, other = arms
    lines = [f"| problem | {ref} (reference) | {other} | {other} better / worse | uniform |", "|---|---|---|---|---|"]
    for name, r in results.items():
        cell = lambda d: (f"{r[d]['median']:.4g} [{r[d]['q25']:.4g}, {r[d]['q75']:.4g}], p90 {r[d]['p90']:.4g}"  # noqa: E731
                          + (f", {r[d]['one_domain']} one-domain" if r[d]["one_domain"] else ""))
        lines.append(f"| {name} | {cell(ref)} | {cell(other)} | {r['better']} / {r['worse']} | "
                     f"{r['uniform_median']:.4g} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", default="dirichlet,simplex", help=f"reference,other: two of {', '.join(ARMS)}")
    ap.add_argument("--problems", default="synthetic,k32,k64,heldout1,heldout3")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default="/tmp/bomix_design", help="simulators and campaigns")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "design_campaigns"))
    args = ap.parse_args()
    from bomix.bench.sweep import Job, check_names, run_jobs

    names = check_names([p for p in args.problems.split(",") if p], PROBLEMS, "problem")
    arms = tuple(check_names([a for a in args.arms.split(",") if a], ARMS, "arm"))
    if len(arms) != 2 or arms[0] == arms[1]:
        raise SystemExit(f"--arms takes two different arms (reference,other), got {args.arms!r}")
    work, out = Path(args.work), Path(args.out)
    t0 = time.perf_counter()
    jobs, overrides = [], {}
    for name in names:
        overrides[name] = [*problem_overrides(name, work), *MFBO_CAPS.get(name, [])]
        for s in range(args.seeds):
            for arm in arms:
                jobs.append(Job(str(work / "campaigns" / name / arm / f"seed{s}"),
                                (*overrides[name], *ARMS[arm], f"seed={s}", f"budget={PROBLEMS[name][1]}",
                                 "progress=false"),
                                {"problem": name, "arm": arm, "seed": str(s)}))
    print(f"{sum(not j.done for j in jobs)} campaigns to run ({args.jobs} in parallel)", flush=True)
    for r in run_jobs(jobs, args.jobs):
        print(f"{r['problem']:>10} {r['arm']:>9} seed {r['seed']}: regret {r.get('regret')} runs {r.get('n_runs')} "
              f"{r.get('crash') or r.get('error') or ''} ({r['wall_s']:.0f} s)", flush=True)
    per = {name: {d: [final(work / "campaigns" / name / d / f"seed{s}") for s in range(args.seeds)]
                  for d in arms} for name in names}
    results = {name: aggregate(per[name]) for name in names}
    out.mkdir(parents=True, exist_ok=True)
    report = {"settings": {"problems": {n: {"overrides": overrides[n], "budget": PROBLEMS[n][1]} for n in names},
                           "arms": {a: ARMS[a] for a in arms}, "seeds": args.seeds, "git": git_state()},
              "results": results, "per_seed": per, "wall_s": time.perf_counter() - t0}
    stem = "design_campaigns" if arms == ("dirichlet", "simplex") else f"{arms[1]}_vs_{arms[0]}"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (out / f"{stem}.md").write_text(markdown(results, arms))
    print(markdown(results, arms))
    print(f"wall time {report['wall_s']:.0f} s; wrote {out}/{stem}.json and .md", flush=True)


if __name__ == "__main__":
    main()
