"""Regret-vs-cost curves: per-seed step functions, quantiles over seeds, the cost grid.

The statistics follow README "Metrics": each seed's regret is a right-continuous step function
of cumulative cost (target-run equivalents): at cost ``c`` it is the regret of the last
recommendation made with ``budget_used <= c``. Before the first recommendation a seed has *no*
recommendation; it counts as ``+inf`` regret (worse than any), so the median over seeds exists only
where more than half of the seeds have recommended. Non-finite results are reported as NaN
(``null`` in JSON) and are not plotted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bomix.bench.loading import PROBLEM

#: the default grid also holds every recommendation cost when there are at most this many
MAX_EXACT = 1000


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
