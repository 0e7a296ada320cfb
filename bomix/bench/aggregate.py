"""Aggregate campaign directories into regret-vs-cost curves, cost-to-reach tables and speedups.

A *campaign directory* holds ``summary.json`` (written when the campaign stops) and
``store.sqlite`` (bomix's store, read here read-only with sqlite3 + pandas). The statistics
follow DESIGN.md "Metrics":

- Each seed's regret is a right-continuous step function of cumulative cost (target-run
  equivalents): at cost ``c`` it is the regret of the last recommendation made with
  ``budget_used <= c``. Before the first recommendation a seed has *no* recommendation; it counts
  as ``+inf`` regret (worse than any), so the median over seeds exists only where more than half
  of the seeds have recommended. Non-finite results are reported as NaN (``null`` in JSON) and are
  not plotted.
- Cost to reach ``regret <= eps`` (the *reach*): the cost from which the seed's regret stays
  ``<= eps`` until its budget ends, i.e. the ``budget_used`` of the recommendation after its last one
  with regret ``> eps`` (a recommendation that dips below eps once and climbs back has not reached
  it); a seed whose final recommendation is above eps never got there and counts as its full
  budget (``summary.json`` ``budget``). The median over seeds is *censored* (a lower bound) when
  fewer than half of the seeds reached ``eps``. The *first touch* (cost of the first recommendation
  with regret ``<= eps``) is kept as a secondary, labelled column (``first_*``).
- Speedup of policy A over policy B at eps = median reach(B) / median reach(A); ``bound`` says
  whether censoring makes it exact (``=``), a lower bound (``>=``, B censored), an upper bound
  (``<=``, A censored) or unknown (``?``, both censored). A ratio with a zero-cost median (a policy
  that spends nothing, such as ``uniform``) is meaningless: NaN with bound ``-``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.layout import STORE_FILE, SUMMARY_FILE, CampaignLayout
GROUP = ["backend", "objective", "policy"]
PROBLEM = ["backend", "objective"]
DEFAULT_EPS = (0.01, 0.005, 0.001)
#: the default grid also holds every recommendation cost when there are at most this many
MAX_EXACT = 1000
#: longest config suffix of a policy label
MAX_LABEL = 60

#: columns of :func:`load_campaigns`
COLUMNS = ["campaign", "backend", "objective", "policy", "seed", "budget", "final_cost", "final_regret",
           "stop_reason", "rec", "n_finished", "cost", "regret", "true_value", "extrapolated"]


# ----- discovery and loading ----------------------------------------------------------------------
def find_campaigns(paths: Iterable[str | Path]) -> tuple[list[Path], list[dict]]:
    """Campaign directories under ``paths`` (each a campaign directory or a parent searched recursively).

    Args:
        paths: directories (or a campaign's ``summary.json`` / ``store.sqlite`` file).

    Returns:
        ``(campaigns, skipped)``: finished campaign directories (sorted, no duplicates) and
        ``{"campaign", "reason"}`` entries for directories with a store but no ``summary.json``
        (an interrupted campaign: re-run its command to finish it).

    Raises:
        BomixError: a path does not exist.
    """
    found: set[Path] = set()
    skipped: dict[Path, str] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise BomixError(f"{p} does not exist: give campaign directories or a folder that contains them")
        if p.is_file():
            if p.name not in (SUMMARY_FILE, STORE_FILE):
                raise BomixError(f"{p} is a file: give a campaign directory (with summary.json and store.sqlite)")
            p = p.parent
        for root, dirs, files in os.walk(p, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if SUMMARY_FILE in files:
                found.add(Path(root).resolve())
            elif STORE_FILE in files:
                skipped[Path(root).resolve()] = "no summary.json (interrupted campaign: re-run it to finish)"
    return sorted(found), [{"campaign": str(k), "reason": v} for k, v in sorted(skipped.items())]


def _read_summary(d: Path) -> dict:
    try:
        s = json.loads((d / SUMMARY_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BomixError(f"cannot read {d / SUMMARY_FILE} ({exc}): delete it and re-run that campaign") from None
    if not isinstance(s, dict):
        raise BomixError(f"{d / SUMMARY_FILE} is not a JSON object: delete it and re-run that campaign")
    missing = [k for k in ("policy", "backend", "seed") if k not in s]
    if missing:
        raise BomixError(f"{d / SUMMARY_FILE} lacks {missing}: is it a bomix campaign summary?")
    return s


def _read_store(d: Path) -> tuple[pd.DataFrame, dict]:
    """The recommendations table and the recorded config (``meta.config``, ``{}`` if absent)."""
    from bomix.store import StoreReader

    if not CampaignLayout(d).store.is_file():
        raise BomixError(f"{d} has summary.json but no {STORE_FILE}: cannot build its regret curve")
    with StoreReader(d) as st:
        recs = st.recommendations()
        config = st.get_meta("config", {})
    keep = ["idx", "n_finished", "budget_used", "true_value", "regret"]
    recs = recs[keep + (["extrapolated"] if "extrapolated" in recs.columns else [])]  # older stores: unknown
    return recs, config if isinstance(config, dict) else {}


_MISSING = "\x00missing"


def _flatten(d: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(d, dict):
        out: dict[str, str] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d if isinstance(d, str) else json.dumps(d, sort_keys=True, default=str)}


def variant_labels(configs: dict[str, dict], policy: str) -> dict[str, str]:
    """Policy labels that tell apart campaigns of one policy name run with different configs.

    Args:
        configs: campaign -> its recorded config (``seed`` and ``hydra`` are ignored).
        policy: the policy name they share.

    Returns:
        campaign -> ``policy`` when all configs agree, else ``policy[key=value,...]`` with the keys
        whose values differ (only the ``policy.*`` ones when they suffice, prefix dropped), e.g.
        ``random[scale=150M]``, cut to :data:`MAX_LABEL` characters.
    """
    flat = {c: {k: v for k, v in _flatten(cfg).items() if k.split(".")[0] not in ("seed", "hydra")}
            for c, cfg in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differ = [k for k in keys if len({f.get(k, _MISSING) for f in flat.values()}) > 1]
    if not differ:
        return {c: policy for c in configs}
    variants = sorted({json.dumps(f, sort_keys=True) for f in flat.values()})
    by_value = [k for k in differ if len({f[k] for f in flat.values() if k in f}) > 1]
    for chosen in ([k for k in by_value if k.startswith("policy.")], by_value, differ):
        if chosen and len({tuple(f.get(k, _MISSING) for k in chosen) for f in flat.values()}) == len(variants):
            break
    labels = {}
    for v in variants:
        f = json.loads(v)
        parts = ",".join(f"{k.removeprefix('policy.')}={f[k]}" for k in chosen if k in f)
        if len(parts) > MAX_LABEL:
            parts = parts[:MAX_LABEL - 3] + "..."
        labels[v] = f"{policy}[{parts}]" if parts else policy
    if len(set(labels.values())) < len(variants):  # cut labels collide: number them
        labels = {v: f"{lab}#{i}" for i, (v, lab) in enumerate(labels.items())}
    return {c: labels[json.dumps(f, sort_keys=True)] for c, f in flat.items()}


def _float(x: Any) -> float:
    try:
        return float("nan") if x is None else float(x)
    except (TypeError, ValueError):
        return float("nan")


def load_campaigns(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All recommendations of all finished campaigns under ``paths``, one row each.

    Args:
        paths: campaign directories or parents (e.g. a Hydra multirun folder), searched recursively.

    Returns:
        DataFrame with :data:`COLUMNS`: campaign-level fields (``campaign`` path, ``backend``,
        ``objective``, ``policy``, ``seed``, ``budget``, ``final_cost`` = ``budget_used`` of the
        summary, ``final_regret``, ``stop_reason``) repeated on each of its recommendations
        (``rec`` index, ``n_finished``, ``cost`` = cumulative ``budget_used`` when made,
        ``regret`` (NaN off simulators), ``true_value``, ``extrapolated``: 1.0 when the simulator scored
        it outside its trust region, 0.0 inside, NaN unknown). Sorted by campaign then ``rec``.
        ``policy`` is the policy name, suffixed with the config keys that differ when one
        name was run with several configs (see :func:`variant_labels`); ``policy_name`` is
        the bare name.

    Raises:
        BomixError: no campaign found, or a summary or store cannot be read.
    """
    paths = list(paths)
    dirs, skipped = find_campaigns(paths)
    if not dirs:
        extra = f" ({len(skipped)} interrupted ones without summary.json)" if skipped else ""
        raise BomixError(f"no campaign directory (with summary.json) found under {', '.join(map(str, paths))}"
                         f"{extra}: run campaigns with `bomix run` first")
    frames = []
    configs: dict[str, dict] = {}
    for d in dirs:
        s = _read_summary(d)
        recs, config = _read_store(d)
        configs[str(d)] = config
        budget = _float(s.get("budget"))
        final_cost = _float(s.get("budget_used"))
        if recs.empty:
            skipped.append({"campaign": str(d), "reason": "no recommendations in its store"})
            continue
        try:
            seed = int(s["seed"])
        except (TypeError, ValueError):
            raise BomixError(f"{d / SUMMARY_FILE} has a non-integer seed {s['seed']!r}") from None
        if not math.isfinite(budget):
            budget = float(np.nanmax([final_cost, recs["budget_used"].max()]))
        obj = s.get("objective")
        frame = pd.DataFrame({
            "campaign": str(d),
            "backend": str(s["backend"]),
            "objective": "default" if obj is None else (obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True)),
            "policy": str(s["policy"]),
            "seed": seed,
            "budget": budget,
            "final_cost": final_cost if math.isfinite(final_cost) else float(recs["budget_used"].iloc[-1]),
            "final_regret": _float(s.get("regret")),
            "stop_reason": s.get("stop_reason") or s.get("status"),
            "rec": recs["idx"].astype(int).to_numpy(),
            "n_finished": recs["n_finished"].astype(int).to_numpy(),
            "cost": recs["budget_used"].astype(float).to_numpy(),
            "regret": pd.to_numeric(recs["regret"], errors="coerce").astype(float).to_numpy(),
            "true_value": pd.to_numeric(recs["true_value"], errors="coerce").astype(float).to_numpy(),
            "extrapolated": (pd.to_numeric(recs["extrapolated"], errors="coerce").astype(float).to_numpy()
                             if "extrapolated" in recs else np.full(len(recs), np.nan)),
        })
        frames.append(frame)
    if not frames:
        raise BomixError(f"the {len(dirs)} campaign(s) found under {', '.join(map(str, paths))} hold no "
                         "recommendations: did they run?")
    df = pd.concat(frames, ignore_index=True)
    df["policy_name"] = df["policy"]
    labels: dict[str, str] = {}
    for (_, _, policy), g in df.drop_duplicates("campaign").groupby(GROUP, sort=True):
        labels.update(variant_labels({c: configs[c] for c in g["campaign"]}, policy))
    df["policy"] = df["campaign"].map(labels)
    df = df[COLUMNS + ["policy_name"]]
    df.attrs["skipped"] = skipped
    return df


# ----- per-seed step functions --------------------------------------------------------------------
def step_values(cost: np.ndarray, value: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Right-continuous step function through ``(cost[i], value[i])`` evaluated on ``grid``.

    Args:
        cost: ``(n,)`` cumulative cost of each recommendation, in the order they were made.
        value: ``(n,)`` their regret; non-finite entries are skipped (the previous value stands).
        grid: ``(m,)`` costs at which to evaluate.

    Returns:
        ``(m,)`` the value of the last finite recommendation with ``cost <= grid[j]``; ``+inf``
        before the first one (no recommendation yet).
    """
    cost, value, grid = (np.asarray(a, dtype=float) for a in (cost, value, grid))
    keep = np.isfinite(value) & np.isfinite(cost)
    cost, value = cost[keep], value[keep]
    out = np.full(grid.shape, np.inf)
    if cost.size == 0:
        return out
    order = np.argsort(cost, kind="stable")  # equal costs keep their order: the last one wins
    cost, value = cost[order], value[order]
    pos = np.searchsorted(cost, grid, side="right") - 1
    ok = pos >= 0
    out[ok] = value[pos[ok]]
    return out


def quantiles(values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Linear-interpolation quantiles over axis 0 that treat ``+inf`` as a value (NaN also as ``+inf``).

    Args:
        values: ``(n_seeds, m)`` (or ``(n_seeds,)``).
        qs: quantile levels in [0, 1].

    Returns:
        ``(len(qs), m)`` (or ``(len(qs),)``); ``inf`` where the quantile falls on or next to an
        infinite value.
    """
    v = np.asarray(values, dtype=float)
    v = np.where(np.isnan(v), np.inf, v)
    v = np.sort(v, axis=0)
    n = v.shape[0]
    out = []
    for q in qs:
        h = (n - 1) * float(q)
        lo, hi = int(math.floor(h)), int(math.ceil(h))
        g = h - lo
        a, b = v[lo], v[hi]
        with np.errstate(invalid="ignore"):
            r = np.where(g == 0, a, np.where(np.isinf(b) | np.isinf(a), np.inf, a + (b - a) * g))
        out.append(r)
    return np.asarray(out)


def _nan_inf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.where(np.isfinite(x), x, np.nan)


# ----- regret curves ------------------------------------------------------------------------------
def default_grid(df: pd.DataFrame, n_points: int = 200) -> np.ndarray:
    """Log-spaced costs from the cheapest positive recommendation cost to the largest budget.

    The grid also holds every distinct recommendation cost (when there are at most
    :data:`MAX_EXACT`), so the median curve steps exactly where seeds recommend.

    Args:
        df: rows of :func:`load_campaigns` (usually one backend/objective).
        n_points: grid size.

    Returns:
        ``(m,)`` increasing costs (``m <= n_points``).
    """
    c = df.loc[np.isfinite(df["regret"]) & (df["cost"] > 0), "cost"].to_numpy(float)
    hi = float(np.nanmax(np.r_[df["budget"].to_numpy(float), df["cost"].to_numpy(float)]))
    if c.size == 0 or not math.isfinite(hi) or hi <= 0:
        return np.array([hi]) if math.isfinite(hi) and hi > 0 else np.array([1.0])
    lo = float(c.min())
    if lo >= hi:
        return np.array([hi])
    grid = np.geomspace(lo, hi, int(n_points))
    exact = np.unique(c)
    if exact.size <= MAX_EXACT:  # put the steps exactly where recommendations were made
        grid = np.union1d(grid, exact)
    return np.unique(grid)


def regret_curves(df: pd.DataFrame, grid: Sequence[float] | np.ndarray | None = None,
                  n_points: int = 200) -> pd.DataFrame:
    """Median and inter-quartile band of regret over seeds, per (backend, objective, policy).

    Args:
        df: :func:`load_campaigns` output.
        grid: ``(m,)`` costs shared by every group; default :func:`default_grid` per
            (backend, objective), so the policies of one problem share a grid.
        n_points: size of the default grid.

    Returns:
        Long DataFrame with ``backend, objective, policy, cost, median, q25, q75, n_seeds,
        n_recommended`` (seeds with a recommendation at that cost). A statistic is NaN where it
        is undefined (too few seeds have recommended) and beyond the group's largest budget.
        Groups without any finite regret (non-simulator backends) are left out.
    """
    rows = []
    for (backend, objective), prob in df.groupby(PROBLEM, sort=True):
        g = np.asarray(grid, dtype=float) if grid is not None else default_grid(prob, n_points)
        for policy, sub in prob.groupby("policy", sort=True):
            if not np.isfinite(sub["regret"]).any():
                continue
            mat = np.stack([step_values(c["cost"], c["regret"], g)
                            for _, c in sub.sort_values("rec").groupby("campaign", sort=True)])
            q25, med, q75 = quantiles(mat, (0.25, 0.5, 0.75))
            beyond = g > sub["budget"].max() * (1 + 1e-9)
            med, q25, q75 = (np.where(beyond, np.nan, _nan_inf(x)) for x in (med, q25, q75))
            rows.append(pd.DataFrame({
                "backend": backend, "objective": objective, "policy": policy, "cost": g,
                "median": med, "q25": q25, "q75": q75, "n_seeds": mat.shape[0],
                "n_recommended": np.isfinite(mat).sum(axis=0)}))
    cols = ["backend", "objective", "policy", "cost", "median", "q25", "q75", "n_seeds", "n_recommended"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


# ----- cost to reach eps --------------------------------------------------------------------------
def _check_eps(eps: Iterable[float]) -> list[float]:
    try:
        out = [float(e) for e in eps]
    except (TypeError, ValueError):
        raise BomixError(f"eps must be numbers, got {eps!r}: e.g. --eps 0.01 0.005") from None
    if not out or any(not math.isfinite(e) or e < 0 for e in out):
        raise BomixError(f"eps must be one or more finite numbers >= 0, got {out}: e.g. --eps 0.01 0.005")
    return sorted(set(out), reverse=True)


def reach_index(regret: np.ndarray, eps: float) -> int | None:
    """Index of the recommendation from which ``regret`` stays ``<= eps`` to the end (None if it ends above).

    Args:
        regret: ``(n,)`` regrets in the order they were made; non-finite entries are skipped (the
            previous value stands, as in :func:`step_values`).
        eps: threshold.

    Returns:
        The first index ``i`` with a finite regret such that every finite regret from ``i`` on is
        ``<= eps``; None when the last finite regret is ``> eps`` or there is none.
    """
    r = np.asarray(regret, dtype=float)
    fin = np.flatnonzero(np.isfinite(r))
    if fin.size == 0 or r[fin[-1]] > eps:
        return None
    above = fin[r[fin] > eps]
    return int(fin[0]) if above.size == 0 else int(fin[fin > above[-1]][0])


def seed_cost_to_reach(df: pd.DataFrame, eps: Iterable[float]) -> pd.DataFrame:
    """Per campaign and eps: the reach (see the module doc) and the first touch.

    Args:
        df: :func:`load_campaigns` output.
        eps: regret thresholds.

    Returns:
        DataFrame ``backend, objective, policy, seed, campaign, eps, reached, cost, first_reached,
        first_cost, spent`` where ``cost`` is the cost from which regret stays ``<= eps`` (the budget
        when not reached), ``first_cost`` that of the first recommendation ``<= eps`` (secondary; the
        budget when never touched) and ``spent`` the campaign's final cost. Campaigns without finite
        regrets are left out.
    """
    eps = _check_eps(eps)
    rows = []
    for camp, c in df.sort_values(["campaign", "rec"]).groupby("campaign", sort=True):
        r = c["regret"].to_numpy(float)
        if not np.isfinite(r).any():
            continue
        first = c.iloc[0]
        costs = c["cost"].to_numpy(float)
        budget = float(first["budget"])
        for e in eps:
            hit = np.flatnonzero(np.isfinite(r) & (r <= e))
            i = reach_index(r, e)
            rows.append({"backend": first["backend"], "objective": first["objective"], "policy": first["policy"],
                         "seed": int(first["seed"]), "campaign": camp, "eps": e, "reached": i is not None,
                         "cost": float(costs[i]) if i is not None else budget,
                         "first_reached": hit.size > 0, "first_cost": float(costs[hit[0]]) if hit.size else budget,
                         "spent": float(first["final_cost"])})
    cols = ["backend", "objective", "policy", "seed", "campaign", "eps", "reached", "cost", "first_reached",
            "first_cost", "spent"]
    return pd.DataFrame(rows, columns=cols)


def cost_to_reach(df: pd.DataFrame, eps: Iterable[float] = DEFAULT_EPS) -> pd.DataFrame:
    """Median (and IQR) over seeds of the reach of ``regret <= eps``, per group and eps.

    Args:
        df: :func:`load_campaigns` output.
        eps: regret thresholds.

    Returns:
        DataFrame ``backend, objective, policy, eps, median, q25, q75, n_seeds, n_reached,
        frac_reached, censored, first_median, first_n_reached, spends_nothing`` (``censored``: fewer
        than half reached, so the median is the budget and only a lower bound; ``first_*``: the
        first-touch figures, secondary; ``spends_nothing``: every seed's final cost is 0).
    """
    per = seed_cost_to_reach(df, eps)
    rows = []
    for (b, o, p, e), g in per.groupby(GROUP + ["eps"], sort=True):
        q25, med, q75 = quantiles(g["cost"].to_numpy(float), (0.25, 0.5, 0.75))
        n, k = len(g), int(g["reached"].sum())
        rows.append({"backend": b, "objective": o, "policy": p, "eps": float(e), "median": float(med),
                     "q25": float(q25), "q75": float(q75), "n_seeds": n, "n_reached": k,
                     "frac_reached": k / n, "censored": 2 * k <= n and k < n,
                     "first_median": float(quantiles(g["first_cost"].to_numpy(float), (0.5,))[0]),
                     "first_n_reached": int(g["first_reached"].sum()),
                     "spends_nothing": bool((g["spent"].fillna(0.0) <= 0).all())})
    cols = ["backend", "objective", "policy", "eps", "median", "q25", "q75", "n_seeds", "n_reached",
            "frac_reached", "censored", "first_median", "first_n_reached", "spends_nothing"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["backend", "objective", "eps", "policy"], ascending=[True, True, False, True],
                           ignore_index=True)


def speedups(ctr: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Speedup of each policy over each other (or over ``baseline``) at each eps.

    Args:
        ctr: :func:`cost_to_reach` output.
        baseline: compare every policy with this one only (default: all ordered pairs).

    Returns:
        DataFrame ``backend, objective, eps, policy, over, speedup, bound`` where
        ``speedup = median cost(over) / median cost(policy)`` and ``bound`` is ``=``, ``>=``, ``<=``
        or ``?`` (see the module doc); a pair with a zero-cost median or a policy that spends
        nothing gets NaN and bound ``-`` (no ratio is meaningful).

    Raises:
        BomixError: ``baseline`` is not among the policies.
    """
    if baseline is not None and baseline not in set(ctr["policy"]):
        raise BomixError(f"--baseline {baseline!r} is not among the policies {sorted(set(ctr['policy']))}")
    rows = []
    for (b, o, e), g in ctr.groupby(["backend", "objective", "eps"], sort=True):
        by = {r.policy: r for r in g.itertuples()}
        others = [baseline] if baseline is not None else sorted(by)
        for a in sorted(by):
            for over in others:
                if over == a or over not in by:
                    continue
                ca, cb = by[a].median, by[over].median
                nothing = bool(getattr(by[a], "spends_nothing", False) or getattr(by[over], "spends_nothing", False))
                if nothing or not (ca > 0 and cb > 0):
                    s, bound = float("nan"), "-"
                else:
                    s = float(cb / ca)
                    bound = {(False, False): "=", (False, True): ">=", (True, False): "<=", (True, True): "?"}[
                        (bool(by[a].censored), bool(by[over].censored))]
                rows.append({"backend": b, "objective": o, "eps": float(e), "policy": a, "over": over,
                             "speedup": s, "bound": bound})
    return pd.DataFrame(rows, columns=["backend", "objective", "eps", "policy", "over", "speedup", "bound"])


def finals(df: pd.DataFrame) -> pd.DataFrame:
    """Final regret and compute used per group: median and IQR over seeds.

    Args:
        df: :func:`load_campaigns` output.

    Returns:
        DataFrame ``backend, objective, policy, n_seeds, seeds, regret_median, regret_q25,
        regret_q75, cost_median, cost_q25, cost_q75, budget, extrapolated_final, extrapolated_all``
        (regret NaN off simulators; ``extrapolated_*``: fraction of the seeds' final recommendations /
        of all recommendations scored by extrapolation, among those with a known flag; NaN if none).
    """
    camp = df.sort_values(["campaign", "rec"]).groupby("campaign", sort=True).tail(1).copy()
    camp["final_regret"] = camp["final_regret"].where(np.isfinite(camp["final_regret"]), camp["regret"])
    rows = []
    for (b, o, p), g in camp.groupby(GROUP, sort=True):
        r = g["final_regret"].to_numpy(float)
        rq = quantiles(r[np.isfinite(r)], (0.25, 0.5, 0.75)) if np.isfinite(r).any() else [np.nan] * 3
        cq = quantiles(g["final_cost"].to_numpy(float), (0.25, 0.5, 0.75))
        rows.append({"backend": b, "objective": o, "policy": p, "n_seeds": len(g),
                     "seeds": sorted(int(s) for s in g["seed"]),
                     "regret_median": float(rq[1]), "regret_q25": float(rq[0]), "regret_q75": float(rq[2]),
                     "cost_median": float(cq[1]), "cost_q25": float(cq[0]), "cost_q75": float(cq[2]),
                     "budget": float(g["budget"].max()),
                     "extrapolated_final": _frac(g["extrapolated"]),
                     "extrapolated_all": _frac(df.loc[df["campaign"].isin(set(g["campaign"])), "extrapolated"])})
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


def summarize(paths: Iterable[str | Path], eps: Iterable[float] = DEFAULT_EPS, baseline: str | None = None,
              grid: Sequence[float] | None = None, n_points: int = 200) -> dict:
    """Everything ``bomix bench`` reports, as a JSON-ready dict.

    Args:
        paths: campaign directories or parents.
        eps: regret thresholds for cost-to-reach and speedups.
        baseline: compare every policy with this one only (default all pairs).
        grid: common cost grid for the curves (default per problem, log-spaced).
        n_points: default grid size.

    Returns:
        ``{"eps", "baseline", "n_campaigns", "campaigns", "skipped", "warnings", "final",
        "cost_to_reach", "speedups", "curves"}``; lists of records (non-finite numbers as ``None``).
        ``curves`` holds, per (backend, objective, policy), the arrays ``cost, median, q25, q75,
        n_recommended``.
    """
    eps = _check_eps(eps)
    df = load_campaigns(paths)
    return summarize_frame(df, eps, baseline=baseline, grid=grid, n_points=n_points)


def summarize_frame(df: pd.DataFrame, eps: Iterable[float] = DEFAULT_EPS, baseline: str | None = None,
                    grid: Sequence[float] | None = None, n_points: int = 200) -> dict:
    """:func:`summarize` on an already loaded :func:`load_campaigns` frame."""
    eps = _check_eps(eps)
    ctr = cost_to_reach(df, eps)
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
        "eps": eps,
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
