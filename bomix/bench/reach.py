"""Cost to reach ``regret <= eps`` per seed and its median over seeds; speedups between policies.

The statistics follow README "Metrics":

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
- Thresholds (README "Metrics"): by default each problem's eps are fractions (:data:`DEFAULT_EPS_FRAC`)
  of its *scale* (:func:`problem_scale`): uniform's regret on it when a ``uniform`` campaign is among
  those benched, else the largest regret any benched recommendation had. ``eps = 0.1`` of uniform's
  regret means "closed 90% of the gap from the uniform mixture to the optimum", comparable across
  problems whose regrets differ by orders of magnitude. Absolute eps (the same on every problem) are
  still available (``--eps``; :data:`DEFAULT_EPS` were the old defaults).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from bomix.bench.curves import quantiles
from bomix.bench.loading import GROUP, PROBLEM
from bomix.errors import BomixError

#: absolute regret thresholds, the defaults before relative ones (``bomix bench --eps`` sets absolute ones)
DEFAULT_EPS = (0.01, 0.005, 0.001)
#: the default thresholds: fractions of each problem's scale (:func:`problem_scale`)
DEFAULT_EPS_FRAC = (0.1, 0.05, 0.01)
#: where a problem's scale comes from (the ``scale_source`` of :func:`problem_scale`)
UNIFORM_SOURCE, WORST_SOURCE = "uniform's regret", "the largest regret recommended"


# ----- cost to reach eps --------------------------------------------------------------------------
def _check_numbers(values: Iterable[float], what: str, example: str) -> list[float]:
    """Finite numbers >= 0, deduplicated, largest first; one-line errors naming ``what`` and an ``example``."""
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise BomixError(f"{what} must be numbers, got {values!r}: e.g. {example}") from None
    if not out or any(not math.isfinite(v) or v < 0 for v in out):
        raise BomixError(f"{what} must be one or more finite numbers >= 0, got {out}: e.g. {example}")
    return sorted(set(out), reverse=True)


def _check_eps(eps: Iterable[float]) -> list[float]:
    return _check_numbers(eps, "eps", "--eps 0.01 0.005")


def _check_fracs(fracs: Iterable[float]) -> list[float]:
    return _check_numbers(fracs, "eps fractions", "--eps-frac 0.1 0.01")


def problem_scale(df: pd.DataFrame) -> tuple[float, str] | None:
    """The scale that relative thresholds are fractions of, for the recommendations of one problem.

    Args:
        df: :func:`load_campaigns` rows of one (backend, objective).

    Returns:
        ``(scale, source)``: uniform's regret (the median over its campaigns of their final
        recommendation's regret) when a ``uniform`` campaign is among them and that regret is > 0,
        else the largest finite regret of any recommendation (source :data:`WORST_SOURCE`); None when
        no recommendation has a positive regret (no ground truth, or every one at the optimum).
    """
    fin = df[np.isfinite(df["regret"].to_numpy(float))]
    if fin.empty:
        return None
    names = fin["policy_name"] if "policy_name" in fin else fin["policy"]
    uni = fin[names == "uniform"]
    if not uni.empty:
        last = uni.sort_values(["campaign", "rec"]).groupby("campaign", sort=True).tail(1)
        u = float(np.median(last["regret"].to_numpy(float)))
        if u > 0:
            return u, UNIFORM_SOURCE
    worst = float(fin["regret"].max())
    return (worst, WORST_SOURCE) if worst > 0 else None


def thresholds(df: pd.DataFrame, eps: Iterable[float] | None = None,
               eps_frac: Iterable[float] | None = None) -> list[dict]:
    """Each problem's regret thresholds: absolute ``eps`` (the same everywhere), else fractions of its scale.

    Args:
        df: :func:`load_campaigns` output.
        eps: absolute thresholds; give these or ``eps_frac``, not both.
        eps_frac: fractions of each problem's :func:`problem_scale` (default :data:`DEFAULT_EPS_FRAC`
            when ``eps`` is None).

    Returns:
        One dict per (backend, objective) with regrets: ``backend, objective, eps`` (absolute, largest
        first), ``eps_frac`` (the fractions in the same order, None for absolute eps), ``scale`` and
        ``scale_source`` (None for absolute eps). A problem without a positive regret gets no relative eps.

    Raises:
        BomixError: both given, or bad values.
    """
    if eps is not None and eps_frac is not None:
        raise BomixError("give absolute eps or eps fractions, not both (--eps or --eps-frac)")
    absolute = _check_eps(eps) if eps is not None else None
    fracs = None if absolute is not None else _check_fracs(DEFAULT_EPS_FRAC if eps_frac is None else eps_frac)
    out = []
    for (b, o), g in df.groupby(PROBLEM, sort=True):
        if not np.isfinite(g["regret"].to_numpy(float)).any():
            continue
        if absolute is not None:
            out.append({"backend": b, "objective": o, "eps": list(absolute), "eps_frac": None, "scale": None,
                        "scale_source": None})
            continue
        sc = problem_scale(g)
        if sc is None:
            continue
        out.append({"backend": b, "objective": o, "eps": [f * sc[0] for f in fracs], "eps_frac": list(fracs),
                    "scale": sc[0], "scale_source": sc[1]})
    return out


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


#: columns of :func:`cost_to_reach`
CTR_COLUMNS = ["backend", "objective", "policy", "eps", "median", "q25", "q75", "n_seeds", "n_reached",
               "frac_reached", "censored", "first_median", "first_n_reached", "spends_nothing"]


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
    out = pd.DataFrame(rows, columns=CTR_COLUMNS)
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
