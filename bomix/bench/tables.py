"""The final-regret table, the warnings, and :func:`summarize`: everything ``bomix bench`` reports as one dict."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.bench.curves import quantiles, regret_curves
from bomix.bench.loading import GROUP, PROBLEM, load_campaigns
from bomix.bench.reach import (CTR_COLUMNS, DEFAULT_EPS_FRAC, _check_eps, _check_fracs, cost_to_reach, speedups,
                               thresholds)
from bomix.errors import BomixError


def finals(df: pd.DataFrame) -> pd.DataFrame:
    """Final regret and compute used per group: median and IQR over seeds (regret also its 90th percentile, the tail).

    Args:
        df: :func:`load_campaigns` output.

    Returns:
        DataFrame ``backend, objective, policy, n_seeds, seeds, regret_median, regret_q25, regret_q75, regret_p90,
        cost_median, cost_q25, cost_q75, budget, extrapolated_final, extrapolated_all, feasible_final``
        (regret NaN off simulators; ``extrapolated_*``: fraction of the seeds' final recommendations /
        of all recommendations scored by extrapolation, among those with a known flag; NaN if none;
        ``feasible_final``: fraction of the seeds' final recommendations that meet the problem's outcome
        constraints in the simulator's truth, NaN without constraints); on a trade-off (``problem.objectives``) also
        ``hv_regret_median, hv_regret_q25, hv_regret_q75``: the final front's hypervolume regret
        (:mod:`bomix.campaign.front`).
    """
    camp = df.sort_values(["campaign", "rec"]).groupby("campaign", sort=True).tail(1).copy()
    camp["final_regret"] = camp["final_regret"].where(np.isfinite(camp["final_regret"]), camp["regret"])
    rows = []
    for (b, o, p), g in camp.groupby(GROUP, sort=True):
        r = g["final_regret"].to_numpy(float)
        rq = quantiles(r[np.isfinite(r)], (0.25, 0.5, 0.75, 0.9)) if np.isfinite(r).any() else [np.nan] * 4
        cq = quantiles(g["final_cost"].to_numpy(float), (0.25, 0.5, 0.75))
        rows.append({"backend": b, "objective": o, "policy": p, "n_seeds": len(g),
                     "seeds": sorted(int(s) for s in g["seed"]),
                     "regret_median": float(rq[1]), "regret_q25": float(rq[0]), "regret_q75": float(rq[2]),
                     "regret_p90": float(rq[3]),
                     "cost_median": float(cq[1]), "cost_q25": float(cq[0]), "cost_q75": float(cq[2]),
                     "budget": float(g["budget"].max()),
                     "extrapolated_final": _frac(g["extrapolated"]),
                     "extrapolated_all": _frac(df.loc[df["campaign"].isin(set(g["campaign"])), "extrapolated"]),
                     "feasible_final": _frac(g["feasible"]) if "feasible" in g else float("nan")})
        hv = pd.to_numeric(g["hv_regret"], errors="coerce").to_numpy(float) if "hv_regret" in g else np.zeros(0)
        if np.isfinite(hv).any():  # a trade-off (problem.objectives): hypervolume regret of the final front
            q = quantiles(hv[np.isfinite(hv)], (0.25, 0.5, 0.75))
            rows[-1].update(hv_regret_median=float(q[1]), hv_regret_q25=float(q[0]), hv_regret_q75=float(q[2]))
    return pd.DataFrame(rows)


def _frac(flags: pd.Series) -> float:
    """Mean of the known (non-NaN) 0/1 flags; NaN when none is known."""
    v = pd.to_numeric(flags, errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


# ----- everything ---------------------------------------------------------------------------------
def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def _records(frame: pd.DataFrame) -> list[dict]:
    return [_jsonable(r) for r in frame.to_dict(orient="records")]


def warnings_for(df: pd.DataFrame) -> list[str]:
    """Things a reader of the tables should know: duplicate seeds, mixed budgets, no regrets."""
    out = []
    camp = df.drop_duplicates("campaign")
    for key, g in camp.groupby(GROUP, sort=True):
        dup = g["seed"][g["seed"].duplicated()].unique()
        if len(dup):
            out.append(f"{'/'.join(key)}: seeds {sorted(int(s) for s in dup)} appear in several directories "
                       "(all are counted)")
        if g["budget"].nunique() > 1:
            out.append(f"{'/'.join(key)}: campaigns have different budgets {sorted(g['budget'].unique())}")
    for key, g in df.groupby(GROUP, sort=True):
        last = g.sort_values("rec").groupby("campaign").tail(1)
        f = _frac(last["extrapolated"])
        if np.isfinite(f) and f > 0:
            out.append(f"{'/'.join(key)}: {f:.0%} of the final recommendations were scored by extrapolation "
                       "(outside the simulator's trust region): their regrets are the model's guess")
    for key, g in df.groupby(PROBLEM, sort=True):
        if not np.isfinite(g["regret"]).any():
            out.append(f"{'/'.join(key)}: no regrets recorded (not a simulator backend): only final cost is reported")
    return out


def summarize(paths: Iterable[str | Path], eps: Iterable[float] | None = None, baseline: str | None = None,
              grid: Sequence[float] | None = None, n_points: int = 200,
              eps_frac: Iterable[float] | None = None) -> dict:
    """Everything ``bomix bench`` reports, as a JSON-ready dict.

    Args:
        paths: campaign directories or parents.
        eps: absolute regret thresholds for cost-to-reach and speedups, the same on every problem.
        baseline: compare every policy with this one only (default all pairs).
        grid: common cost grid for the curves (default per problem, log-spaced).
        n_points: default grid size.
        eps_frac: thresholds as fractions of each problem's scale (:func:`bomix.bench.reach.thresholds`;
            the default, :data:`bomix.bench.reach.DEFAULT_EPS_FRAC`, when ``eps`` is None).

    Returns:
        ``{"eps", "eps_frac", "thresholds", "baseline", "n_campaigns", "campaigns", "skipped", "warnings",
        "final", "cost_to_reach", "speedups", "curves"}``; lists of records (non-finite numbers as
        ``None``). ``eps`` is the list of absolute thresholds (None with relative ones), ``eps_frac``
        the fractions (None with absolute ones), ``thresholds`` each problem's absolute eps, fractions
        and scale (:func:`bomix.bench.reach.thresholds`; outputs written before it existed hold only
        ``eps``, which :func:`bomix.bench.report.problem_thresholds` reads as absolute).
        ``curves`` holds, per (backend, objective, policy), the arrays ``cost, median, q25, q75,
        n_recommended``.
    """
    df = load_campaigns(paths)
    return summarize_frame(df, eps, baseline=baseline, grid=grid, n_points=n_points, eps_frac=eps_frac)


def summarize_frame(df: pd.DataFrame, eps: Iterable[float] | None = None, baseline: str | None = None,
                    grid: Sequence[float] | None = None, n_points: int = 200,
                    eps_frac: Iterable[float] | None = None) -> dict:
    """:func:`summarize` on an already loaded :func:`load_campaigns` frame."""
    thr = thresholds(df, eps, eps_frac)
    absolute = None if eps is None else _check_eps(eps)
    fracs = None if absolute is not None else _check_fracs(DEFAULT_EPS_FRAC if eps_frac is None else eps_frac)
    parts = []
    for t in thr:
        sub = df[(df["backend"] == t["backend"]) & (df["objective"] == t["objective"])]
        c = cost_to_reach(sub, t["eps"])
        frac = dict(zip(t["eps"], t["eps_frac"] or [None] * len(t["eps"])))
        parts.append(c.assign(eps_frac=c["eps"].map(frac).astype(object)))
    ctr = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CTR_COLUMNS + ["eps_frac"])
    if baseline is not None and baseline not in set(df["policy"]):
        raise BomixError(f"--baseline {baseline!r} is not among the policies {sorted(set(df['policy']))}")
    sp = speedups(ctr, baseline) if len(ctr) else pd.DataFrame(
        columns=["backend", "objective", "eps", "policy", "over", "speedup", "bound"])
    curves = regret_curves(df, grid, n_points)
    camp = df.drop_duplicates("campaign")
    curve_list = []
    for (b, o, p), g in curves.groupby(GROUP, sort=True):
        curve_list.append(_jsonable({
            "backend": b, "objective": o, "policy": p, "n_seeds": int(g["n_seeds"].iloc[0]),
            **{k: g[k].tolist() for k in ("cost", "median", "q25", "q75", "n_recommended")}}))
    return {
        "eps": absolute,
        "eps_frac": fracs,
        "thresholds": _jsonable(thr),
        "baseline": baseline,
        "n_campaigns": int(len(camp)),
        "campaigns": _records(camp[["campaign", "backend", "objective", "policy", "seed", "budget",
                                    "final_cost", "final_regret", "stop_reason"]]),
        "skipped": list(df.attrs.get("skipped", [])),
        "warnings": warnings_for(df),
        "final": _records(finals(df)),
        "cost_to_reach": _records(ctr),
        "speedups": _records(sp),
        "curves": curve_list,
    }
