"""Reuse across changed domain sets (issue 25, benchmark 3b): cost to reach eps with a warm start vs from scratch.

Per seed ``s`` (the synthetic instance and the campaign seed):

1. an *old* campaign on a 6-domain synthetic problem ``SyntheticBackend(k=6, seed=s)`` (domains ``d0..d5``): a
   swarm of ``--old-budget`` random Dirichlet(1) runs at the target fidelity (``policy=random``; the kind of
   evidence a team holds from an earlier project, cheap to simulate);
2. the *split/add* problem: the same world with ``d2`` split into ``d2a``/``d2b`` (token shares 0.5/0.5) and a new
   domain ``d6`` added. Its ground truth is derived from the old backend's drawn law (``law=`` overrides): the two
   parts share ``d2``'s law parameters and its transfer row and column, transfer ``PART_TRANSFER`` to each other
   (not 1: splitting a domain is not free), and split its target weight by their shares; ``d6`` gets fresh
   parameters from the same ranges and a target weight like an average domain's. Warm start mapping:
   ``split: {d2: {d2a: .5, d2b: .5}}, add: [d6]``;
3. the *heavy-change* problem: a different world (``SyntheticBackend(k=6, seed=s + HEAVY_OFFSET)``: every law
   parameter redrawn) whose domain list is declared as ``merge: {m01: [d0, d1]}``, ``split: {d2: {d2a, d2b}}``,
   ``remove: [d3, d4, d5]``, ``add: [n3, n4, n5]`` (``removed: keep``, old runs with over half their weight on the
   removed domains dropped). The old evidence is mapped validly but describes another world: reuse must not hurt.

Regret is the recommendation's true target-fidelity loss minus the optimum's (dense search on the simulator).
Cost to reach eps = the cumulative cost (target-run equivalents, the new campaign's own spending; reused runs are
never charged) from which the regret stays <= eps until the budget ends; a seed that never gets there counts as its
budget (censored; a median with over half censored is a lower bound, flagged). eps is a fraction of the uniform
mixture's regret on the new problem (``EPS_FRACS``), so seeds and problems are comparable. The old campaign's cost
is NOT counted (it was spent on an earlier project; the question is what the new one costs).

Usage:
    python benchmarks/warm_start.py [--seeds 10] [--budget 30] [--old-budget 30] [--policy sfbo|mfbo]
        [--fidelities 1B@20000 ...] [--rec-evidence Q] [--clamp-margin M] [--out benchmarks/results/warm_start]
        [--variants reuse ...] [--scratch-from EARLIER/results.json]

A budget of 30 target runs lets sfbo from scratch reach eps on most seeds (at 12 it rarely does: censored medians).
``--scratch-from`` takes the scratch and control campaigns of an earlier run with the same settings (they use no
warm start, so a change to the reuse method leaves them bit-identical) and runs the warm-started ones only.

Each new problem is run three ways (:data:`NAMES`): from scratch, from scratch with the initial design a warm start
gets (the control), and warm-started. The new campaigns' policy is :data:`POLICY` (sfbo by default: every run at the
target, so cost = target runs).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from seed_stats import spread

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
#: mfbo, light enough for 2 shared cores: a product kernel alone, fidelities 300M / 1B at 20000 steps, fixed
#: initial design, small search (stated in the JSON)
POLICY = {"name": "sfbo", "gp": {"cold_start": False, "maxiter": 20},
          "search": {"raw_samples": 64, "starts": 2, "iters": 10}, "n_init": 6,
          "fidelities": ["1B@20000"]}
#: transfer between the two parts of a split domain (1 would make the split invisible to the loss)
PART_TRANSFER = 0.6
HEAVY_OFFSET = 1000
#: the variants per problem: from scratch (the policy's initial design), from scratch with the initial design a warm
#: start gets (a control: is the saving the evidence or the smaller design?), and warm-started
NAMES = ("scratch", "scratch_small_init", "reuse")


def VARIANTS(old_dir: str, mapping: dict) -> list[tuple]:
    """``[(name, warm_start, policy)]`` of :data:`NAMES`."""
    from bomix.policies.bo.base import WARM_INIT_RUNS

    return [("scratch", None, policy()), ("scratch_small_init", None, policy(n_init=WARM_INIT_RUNS)),
            ("reuse", {"dirs": [old_dir], **mapping}, policy())]
EPS_FRACS = (0.5, 0.25)
LAW_KEYS = ("E", "A", "a", "B", "b0", "g")
SPLIT = {"split": {"d2": {"d2a": 0.5, "d2b": 0.5}}, "add": ["d6"]}
HEAVY = {"merge": {"m01": ["d0", "d1"]}, "split": {"d2": {"d2a": 0.5, "d2b": 0.5}}, "remove": ["d3", "d4", "d5"],
         "add": ["n3", "n4", "n5"], "removed": "keep"}


def split_add_backend(old, seed: int):
    """The old world with ``d2`` split in two (shares 0.5/0.5) and ``d6`` added (see the module docstring)."""
    from bomix.backends.synthetic import SyntheticBackend

    k = old.space.k
    p = old.space.domains.index("d2")
    src = list(range(k))
    src.insert(p + 1, p)  # new index -> old index (the parts both read d2); d6 appended
    rng = np.random.default_rng([4242, seed])
    fresh = {"E": rng.uniform(1.5, 2.5), "A": rng.uniform(2.0, 4.0), "a": rng.uniform(0.25, 0.4),
             "B": rng.uniform(0.6, 1.2), "b0": rng.uniform(0.15, 0.35), "g": rng.uniform(-0.15, 0.2)}
    law = {key: np.append(getattr(old, key)[src], fresh[key]) for key in LAW_KEYS}
    n = k + 2
    T = np.zeros((n, n))
    T[: k + 1, : k + 1] = old.T[np.ix_(src, src)]
    T[p, p + 1] = T[p + 1, p] = PART_TRANSFER
    T[p, p] = T[p + 1, p + 1] = 1.0
    T[k + 1, : k + 1] = rng.uniform(0.0, 0.35, k + 1) * (rng.uniform(size=k + 1) < 0.6)
    T[: k + 1, k + 1] = rng.uniform(0.0, 0.35, k + 1) * (rng.uniform(size=k + 1) < 0.6)
    T[k + 1, k + 1] = 1.0
    law["T"] = T
    u = old.u[src].copy()
    u[p] *= 0.5
    u[p + 1] *= 0.5
    law["u"] = np.append(u, u[u > 0].mean())
    domains = [d for d in old.space.domains[: p]] + ["d2a", "d2b"] + list(old.space.domains[p + 1:]) + ["d6"]
    return SyntheticBackend(domains=domains, seed=seed, law={k_: np.asarray(v).tolist() for k_, v in law.items()})


def heavy_backend(seed: int):
    from bomix.backends.synthetic import SyntheticBackend

    return SyntheticBackend(domains=["m01", "d2a", "d2b", "n3", "n4", "n5"], seed=seed + HEAVY_OFFSET)


def policy(**changes):
    """The new campaigns' policy (:data:`POLICY` with ``changes``; ``name`` mfbo or sfbo)."""
    from bomix.policies.bo import MFBOPolicy, SFBOPolicy

    opts = {**{k: v for k, v in POLICY.items() if k != "name"}, **changes}
    return MFBOPolicy(**opts) if POLICY["name"] == "mfbo" else SFBOPolicy(**opts)


def campaign(backend, budget: float, seed: int, directory: str, warm: dict | None = None, pol=None) -> dict:
    """One campaign (``pol``, default :func:`policy`); returns its summary plus its recommendation trace
    (budget_used, regret)."""
    from bomix.campaign import Campaign
    from bomix.store import StoreReader

    t0 = time.time()
    with Campaign(backend, pol or policy(), budget=budget, seed=seed, directory=directory, warm_start=warm) as c:
        s = c.run()
    r = StoreReader(directory)
    try:
        recs = r.recommendations()
    finally:
        r.close()
    s["trace"] = {"cost": recs["budget_used"].astype(float).tolist(), "regret": recs["regret"].astype(float).tolist()}
    s["wall"] = time.time() - t0
    return s


def reach(trace: dict, eps: float, budget: float) -> tuple[float, bool]:
    """(cost from which regret stays <= eps, reached?); the budget when the last recommendation is above eps."""
    cost, reg = np.asarray(trace["cost"]), np.asarray(trace["regret"])
    if not len(reg) or reg[-1] > eps:
        return budget, False
    above = np.nonzero(reg > eps)[0]
    return (float(cost[above[-1] + 1]) if len(above) else float(cost[0])), True


def uniform_regret(backend) -> float:
    from bomix.campaign import build_problem
    from bomix.space import Mixture

    prob = build_problem(backend)
    t = prob.space.target
    _, best = backend.optimum(prob.objective, t)
    k = prob.space.k
    return float(backend.true_value(Mixture(np.full(k, 1.0 / k), prob.space.domains), t, prob.objective) - best)


def one_seed(seed: int, budget: float, old_budget: float, variants: tuple[str, ...] = NAMES) -> dict:
    from bomix.backends.synthetic import SyntheticBackend

    out: dict = {"seed": seed}
    with tempfile.TemporaryDirectory() as tmp:
        old = SyntheticBackend(k=6, seed=seed)
        from bomix.policies.heuristics import RandomPolicy

        s = campaign(old, old_budget, seed, f"{tmp}/old", pol=RandomPolicy())  # a swarm of random target runs
        out["old"] = {"n_runs": s["n_runs"], "regret": s["regret"], "wall": s["wall"]}
        for case, backend, mapping in (("split_add", split_add_backend(old, seed), SPLIT),
                                       ("heavy", heavy_backend(seed), HEAVY)):
            ureg = uniform_regret(backend)
            row = {"uniform_regret": ureg}
            for variant, warm, pol in VARIANTS(f"{tmp}/old", mapping):
                if variant not in variants:
                    continue
                s = campaign(backend, budget, seed, f"{tmp}/{case}-{variant}", warm, pol)
                row[variant] = {"trace": s["trace"], "n_runs": s["n_runs"], "final_regret": s["regret"],
                                "wall": s["wall"], "warm_start": s.get("warm_start"),
                                "reuse_fits": (s.get("policy_info") or {}).get("reuse_fits")}
                for f in EPS_FRACS:
                    c, ok = reach(s["trace"], f * ureg, budget)
                    row[variant][f"reach_{f:g}"] = c
                    row[variant][f"reached_{f:g}"] = ok
            out[case] = row
            print(f"seed {seed} {case}: " + ", ".join(
                f"{v} reach@{EPS_FRACS[0]:g}={row[v][f'reach_{EPS_FRACS[0]:g}']:.3g}"
                f"{'' if row[v][f'reached_{EPS_FRACS[0]:g}'] else ' (censored)'}" for v in variants),
                flush=True)
    return out


def summarise(rows: list[dict], budget: float) -> dict:
    names = [v for v in NAMES if v in rows[0]["split_add"]]
    out: dict = {}
    for case in ("split_add", "heavy"):
        res: dict = {}
        for f in EPS_FRACS:
            key = f"{f:g}"
            med = {}
            for v in names:
                c = np.array([r[case][v][f"reach_{key}"] for r in rows])
                ok = np.array([r[case][v][f"reached_{key}"] for r in rows])
                med[v] = {**spread(c), "n_reached": int(ok.sum()), "n": len(rows),
                          "censored_median": bool(ok.sum() * 2 <= len(rows))}
            cmp = {}
            for base in [b for b in ("scratch", "scratch_small_init") if b in names and "reuse" in names]:
                saving = 1.0 - med["reuse"]["median"] / med[base]["median"] if med[base]["median"] > 0 else None
                paired = np.array([r[case]["reuse"][f"reach_{key}"] - r[case][base][f"reach_{key}"] for r in rows])
                cmp[f"reuse_vs_{base}"] = {
                    "saving_of_medians": saving, "bound": ">=" if med[base]["censored_median"] else "=",
                    "median_paired_difference": float(np.median(paired)), "n_reuse_cheaper": int((paired < 0).sum()),
                    "n_reuse_dearer": int((paired > 0).sum())}
            res[f"eps_{key}_of_uniform_regret"] = {**med, **cmp}
        res["final_regret_median"] = {v: float(np.median([r[case][v]["final_regret"] for r in rows])) for v in names}
        if "reuse" in names:
            res["reused_runs_median"] = float(np.median([r[case]["reuse"]["warm_start"]["n_reused"] for r in rows]))
        out[case] = res
    return out


def plot(rows: list[dict], budget: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0, budget, 200)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, case in zip(axes, ("split_add", "heavy")):
        for v, colour in zip(NAMES, ("tab:blue", "tab:green", "tab:orange")):
            if v not in rows[0][case]:
                continue
            curves = []
            for r in rows:
                tr = r[case][v]["trace"]
                cost, reg = np.asarray(tr["cost"]), np.asarray(tr["regret"]) / r[case]["uniform_regret"]
                idx = np.searchsorted(cost, grid, side="right") - 1
                curves.append(np.where(idx >= 0, reg[np.clip(idx, 0, None)], np.nan))
            c = np.array(curves)
            med = np.nanmedian(c, 0)
            ax.plot(grid, med, color=colour, label=f"{v} (median)")
            ax.fill_between(grid, np.nanquantile(c, 0.25, 0), np.nanquantile(c, 0.75, 0), color=colour, alpha=0.2)
        for f in EPS_FRACS:
            ax.axhline(f, color="grey", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("cost of the new campaign (target-run equivalents)")
        ax.set_ylabel("regret / uniform mixture's regret")
        ax.set_title(f"{case.replace('_', '/')}: {len(rows)} seeds, median and IQR")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def same_settings(path: Path, args, n_seeds: int) -> dict:
    """The results JSON at ``path``, refused (exit) unless it has these settings and at least ``n_seeds`` seeds."""
    earlier = json.loads(path.read_text())
    same = {k: earlier["settings"].get(k) for k in ("budget", "old_budget", "policy_options", "part_transfer")}
    if same != {"budget": args.budget, "old_budget": args.old_budget, "policy_options": POLICY,
                "part_transfer": PART_TRANSFER} or len(earlier["seeds"]) < n_seeds:
        raise SystemExit(f"{path}: other settings or fewer seeds than this run ({same})")
    return earlier


def with_scratch(rows: list[dict], path: Path, args) -> list[dict]:
    """``rows`` (reuse only) with the scratch and control campaigns of the earlier results ``path``, which must
    have the same settings and seeds (checked: the same problems, to the uniform mixture's regret)."""
    earlier = same_settings(path, args, len(rows))
    out = []
    for r, e in zip(rows, earlier["seeds"]):
        r = dict(r)
        for case in ("split_add", "heavy"):
            if abs(r[case]["uniform_regret"] - e[case]["uniform_regret"]) > 1e-12 or r["seed"] != e["seed"]:
                raise SystemExit(f"--scratch-from {path}: seed {r['seed']} {case} is another problem")
            r[case] = {**r[case], **{v: e[case][v] for v in NAMES if v != "reuse"}}
        out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=30.0)
    ap.add_argument("--old-budget", type=float, default=30.0, help="the old swarm's runs (random, at the target)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/warm_start"))
    ap.add_argument("--policy", choices=("mfbo", "sfbo"), default=POLICY["name"])
    ap.add_argument("--fidelities", nargs="*", default=None, help="mfbo's fidelities (SCALE@STEPS)")
    ap.add_argument("--rec-evidence", type=float, default=POLICY.get("rec_evidence"))
    ap.add_argument("--variants", nargs="*", choices=NAMES, default=list(NAMES),
                    help="run only these variants (a quicker look; the comparisons need scratch and reuse)")
    ap.add_argument("--scratch-from", default=None,
                    help="an earlier results.json with the same settings: take its scratch and control campaigns "
                         "(no warm start, so a method change to reuse leaves them bit-identical) and run reuse only")
    ap.add_argument("--combine", default=None,
                    help="with --scratch-from: take the reuse campaigns from this earlier --variants reuse "
                         "results.json instead of running them")
    ap.add_argument("--clamp-margin", type=float, default=None,
                    help="override bomix.surrogate.transfer.CLAMP_MARGIN (a sensitivity check; inf: no clipping)")
    args = ap.parse_args()
    import bomix.surrogate.transfer as transfer

    if args.clamp_margin is not None:
        transfer.CLAMP_MARGIN = args.clamp_margin
    POLICY["name"] = args.policy
    POLICY["rec_evidence"] = args.rec_evidence
    if args.policy == "sfbo":
        POLICY.pop("fidelities", None)
    elif args.fidelities:
        POLICY["fidelities"] = list(args.fidelities)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.combine and not args.scratch_from:
        ap.error("--combine needs --scratch-from")
    if args.scratch_from:
        args.variants = ["reuse"]
    if args.combine:  # reuse rows of an earlier --variants reuse run: no campaign is run
        rows = same_settings(Path(args.combine), args, args.seeds)["seeds"][: args.seeds]
    else:
        rows = [one_seed(s, args.budget, args.old_budget, tuple(args.variants)) for s in range(args.seeds)]
    if args.scratch_from:
        rows = with_scratch(rows, Path(args.scratch_from), args)
        args.variants = list(NAMES)
    result = {"settings": {"seeds": args.seeds, "budget": args.budget, "old_budget": args.old_budget,
                           "policy": POLICY["name"], "policy_options": POLICY, "variants": args.variants,
                           "scratch_from": args.scratch_from, "reuse_from": args.combine,
                           "old_policy": "random (Dirichlet(1), target)",
                           "part_transfer": PART_TRANSFER, "clamp_margin": str(transfer.CLAMP_MARGIN),
                           "eps": "fractions of the uniform mixture's regret on the new problem: "
                                  + ", ".join(f"{f:g}" for f in EPS_FRACS),
                           "split_add_mapping": SPLIT, "heavy_mapping": HEAVY,
                           "reach": "cost from which regret stays <= eps until the budget ends; never: the budget "
                                    "(censored)", "threads": 1},
              "summary": summarise(rows, args.budget), "seeds": rows, "wall_s": time.time() - t0}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    plot(rows, args.budget, out / "regret.png")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
