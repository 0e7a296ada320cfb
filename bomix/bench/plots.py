"""PNG plots of regret vs cost (matplotlib, Agg backend): one figure per (backend, objective)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bomix.bench.report import eps_label, problem_thresholds, threshold_sentence


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "x"


#: policy family of each policy name (a variant ``mfbo[rule=aei]`` takes its base name's); panels of
#: the comparison plot when there are more policies than one panel shows readably
FAMILIES = {
    "Bayesian optimisation": ("mfbo", "mfms_ei", "mfkg", "mfmes", "sfbo", "mobo", "hyperband"),
    "mixing laws": ("dml", "bimix", "autoscale", "dcpt", "regmix", "regmix_linear", "sft_law", "shukor"),
    "online methods": ("doremi", "doremi_online", "doge", "odm", "ado", "aioli", "skillit", "sheared"),
    "baselines": ("uniform", "proportional", "random", "fixed"),
}
#: more policies than this get one panel per family
MAX_PER_PANEL = 8


def family(policy: str) -> str:
    """The family of a policy name ("other" for names not in :data:`FAMILIES`)."""
    base = re.split(r"[\[(@ ]", policy, maxsplit=1)[0]
    return next((f for f, names in FAMILIES.items() if base in names), "other")


def _palette() -> list:
    import matplotlib

    tab10 = [matplotlib.colormaps["tab10"](i) for i in range(10)]
    dark2 = [matplotlib.colormaps["Dark2"](i) for i in range(8)]
    tab20b = [matplotlib.colormaps["tab20b"](i) for i in range(0, 20, 4)]
    return tab10 + dark2 + tab20b  # 23 distinct colours, no light/dark pairs


def policy_colours(policies: list[str]) -> dict[str, tuple]:
    """One stable, distinct colour per policy name (sorted names over a 23-colour palette)."""
    names = sorted(set(policies))
    pal = _palette()
    return {p: pal[i % len(pal)] for i, p in enumerate(names)}


def _styles(policies: list[str]) -> dict[str, str]:
    """Solid lines for the first palette round, dashed after (more than 23 policies)."""
    names = sorted(set(policies))
    n = len(_palette())
    return {p: "-" if i < n else "--" for i, p in enumerate(names)}


def _plain_log_axis(axis, lo: float, hi: float) -> None:
    """Log-axis ticks labelled as plain numbers (0.01, 0.2, 5), enough of them for the range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 3.0
    subs = tuple(range(1, 10)) if decades < 1.2 else (1, 2, 5) if decades < 3 else (1,)
    axis.set_major_locator(LogLocator(base=10, subs=[float(x) for x in subs]))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _stop_costs(summary: dict) -> dict[tuple, float]:
    """(backend, objective, policy) -> the largest final cost over its campaigns (where its line ends)."""
    out: dict[tuple, float] = {}
    for c in summary.get("campaigns", []):
        key = (c["backend"], c["objective"], c["policy"])
        cost = c.get("final_cost")
        if cost is not None:
            out[key] = max(out.get(key, 0.0), float(cost))
    return out


def _figures(rows: list[dict], out_dir: str | Path) -> tuple[Any, Path, dict[tuple, list[dict]]]:
    """pyplot (headless), the created output folder, and ``rows`` grouped by (backend, objective): one figure each."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["backend"], r["objective"])].append(r)
    return plt, out, groups


def plot_regret_curves(summary: dict, out_dir: str | Path) -> list[Path]:
    """Write ``regret_<backend>_<objective>.png`` for every problem with regret curves.

    Each figure: log-x cost in target-run equivalents, log-y regret (plain tick labels), median line
    with its inter-quartile band per policy, each line ending where that policy's campaigns stopped
    (the largest final cost over its seeds), each eps as a dashed grey line (the title says what they
    are: fractions of which scale, or absolute), legend outside the axes. A policy that runs nothing
    (uniform, fixed: every campaign's final cost is 0) is a dotted horizontal line at its regret.
    With more than :data:`MAX_PER_PANEL` policies, one panel per family (:data:`FAMILIES`): the
    family's policies in colour, every other policy's median in light grey for context. Regrets of
    exactly 0 are drawn at a floor stated in the y label.

    Args:
        summary: the dict from :func:`bomix.bench.aggregate.summarize`.
        out_dir: folder for the PNG files (created).

    Returns:
        The written paths.
    """
    plt, out, groups = _figures(summary["curves"], out_dir)
    names = [c["policy"] for c in summary["curves"]]
    colours, styles = policy_colours(names), _styles(names)
    stops = _stop_costs(summary)
    thr = problem_thresholds(summary)
    paths = []
    for (backend, objective), curves in sorted(groups.items()):
        t = thr.get((backend, objective), {"eps": [], "eps_frac": None})
        eps = [(e, f) for e, f in zip(t["eps"], t["eps_frac"] or [None] * len(t["eps"])) if e > 0]
        arrays = [_stopped_curve(c, stops.get((backend, objective, c["policy"]))) for c in curves]
        flat = {c["policy"] for c in curves if stops.get((backend, objective, c["policy"])) == 0}
        floor = _zero_floor(arrays, [e for e, _ in eps])
        panels = _panels(curves)
        ncol = min(2, len(panels))
        nrow = (len(panels) + ncol - 1) // ncol
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.0 * ncol + 2.6, 4.3 * nrow), dpi=120, squeeze=False,
                                 sharex=True, sharey=True)
        clipped = False
        for ax, fam in zip(axes.flat, panels):
            clipped |= _draw_panel(ax, fam, arrays, floor, eps, colours, styles, flat)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        _label_figure(fig, axes, curves, f"{backend} / {objective}", floor, clipped,
                      f"dashed: {threshold_sentence(t)}" if eps else "")
        fig.tight_layout()
        path = out / f"regret_{_slug(backend)}_{_slug(objective)}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


#: one policy's curve ready to draw: (the summary's curve dict, cost, median, q25, q75), arrays ``(n_points,)``
_Curve = tuple[dict, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _stopped_curve(c: dict, stop: float | None) -> _Curve:
    """A summary curve as float arrays (None -> NaN), NaN after the first cost >= ``stop`` (where its campaigns
    stopped), so the line ends at the last recommendation."""
    cost = np.asarray(c["cost"], dtype=float)
    med, lo, hi = (np.asarray([np.nan if v is None else v for v in c[k]], dtype=float)
                   for k in ("median", "q25", "q75"))
    if stop is not None and np.any(cost >= stop):  # end the line at the last recommendation
        end = int(np.argmax(cost >= stop))
        keep = np.arange(cost.size) <= end
        med, lo, hi = (np.where(keep, x, np.nan) for x in (med, lo, hi))
    return c, cost, med, lo, hi


def _zero_floor(arrays: list[_Curve], eps: list[float]) -> float:
    """Where regrets of 0 are drawn on the log axis: a third of the smallest positive value shown."""
    vals = np.concatenate([np.r_[m, l, h] for _, _, m, l, h in arrays] + [np.asarray(eps, dtype=float)])
    pos = vals[np.isfinite(vals) & (vals > 0)]
    return float(pos.min()) / 3 if pos.size else 1e-6


def _panels(curves: list[dict]) -> list[str | None]:
    """The panels of one figure: its families in :data:`FAMILIES` order when there are more than
    :data:`MAX_PER_PANEL` policies (of several families), else ``[None]`` (one panel for all)."""
    fams = sorted({family(c["policy"]) for c in curves}, key=lambda f: list(FAMILIES).index(f)
                  if f in FAMILIES else len(FAMILIES))
    return fams if len(curves) > MAX_PER_PANEL and len(fams) > 1 else [None]


def _draw_panel(ax, fam: str | None, arrays: list[_Curve], floor: float, eps: list[tuple[float, float | None]],
                colours: dict[str, tuple], styles: dict[str, str], flat: set[str] = frozenset()) -> bool:
    """Draw one panel: the family ``fam``'s medians and IQR bands in colour (every policy's if ``fam`` is None),
    the other policies' medians in light grey, the policies in ``flat`` (they run nothing) as dotted
    horizontal lines at their regret, a dashed line per ``(eps, fraction or None)``, log axes, the legend
    outside.

    Returns:
        Whether a coloured value fell below ``floor`` (so was drawn at it).
    """
    clipped = False
    for c, cost, med, lo, hi in arrays:
        ok = (cost > 0) & np.isfinite(med)
        if not ok.any():
            continue
        context = fam is not None and family(c["policy"]) != fam
        if c["policy"] in flat:  # no runs, so no curve: one regret at every cost
            clipped |= _draw_flat(ax, c, med[ok], lo[ok], hi[ok], floor, None if context else colours[c["policy"]])
            continue
        if context:  # other families in grey
            ax.step(cost[ok], np.maximum(med[ok], floor), where="post", color="0.82", lw=1, zorder=1)
            continue
        clipped |= bool(np.any(np.r_[med[ok], lo[ok], hi[ok]] < floor))
        col = colours[c["policy"]]
        ax.step(cost[ok], np.maximum(med[ok], floor), where="post", color=col, lw=2, ls=styles[c["policy"]],
                label=f"{c['policy']} (n={c['n_seeds']})", zorder=3)
        band = ok & np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(cost[band], np.maximum(lo[band], floor), np.maximum(hi[band], floor), step="post",
                        color=col, alpha=0.15, lw=0, zorder=2)
    for e, frac in eps:
        ax.axhline(e, color="0.4", ls="--", lw=1, zorder=0)
        ax.annotate(f"eps={eps_label(e, frac)}", xy=(0.0, e), xycoords=("axes fraction", "data"), xytext=(3, 2),
                    textcoords="offset points", va="bottom", fontsize=7, color="0.3")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    if fam is not None:
        ax.set_title(fam, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)
    return clipped


def _draw_flat(ax, c: dict, med: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: float,
               colour: tuple | None) -> bool:
    """A policy that runs nothing as a dotted horizontal line at its regret (its IQR as a band when the
    seeds differ), across the whole cost axis; light grey when ``colour`` is None (context).

    Returns:
        Whether its regret fell below ``floor`` (so was drawn at it).
    """
    y = float(med[0])
    if colour is None:
        ax.axhline(max(y, floor), color="0.82", ls=":", lw=1, zorder=1)
        return False
    ax.axhline(max(y, floor), color=colour, ls=":", lw=2, zorder=3,
               label=f"{c['policy']} (n={c['n_seeds']}, no runs: {y:.3g})")
    q25, q75 = float(lo[0]), float(hi[0])
    if np.isfinite(q25) and np.isfinite(q75) and q75 > q25:
        ax.axhspan(max(q25, floor), max(q75, floor), color=colour, alpha=0.1, lw=0, zorder=2)
    return y < floor


def _label_figure(fig, axes: np.ndarray, curves: list[dict], problem: str, floor: float, clipped: bool,
                  eps_line: str = "") -> None:
    """Plain log tick labels, the outer axes' labels (the zero floor in the y label if used) and the title.

    ``axes``: the ``(nrow, ncol)`` array of shared axes; ``problem``: ``"<backend> / <objective>"``;
    ``eps_line``: what the dashed lines are (a second title line; none if empty).
    """
    ref = axes.flat[0]
    _plain_log_axis(ref.xaxis, *ref.get_xlim())
    _plain_log_axis(ref.yaxis, *ref.get_ylim())
    ylabel = "regret at target" + (f" (0 drawn at {floor:.1g})" if clipped else "")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in axes[-1, :]:
        ax.set_xlabel("cumulative cost (target-run equivalents)")
    seeds = sorted({c["n_seeds"] for c in curves})
    n = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    fig.suptitle(f"{problem}: median and IQR over {n} seed{'s' if n != '1' else ''}"
                 " (lines end where campaigns stopped; dotted: no runs)" + (f"\n{eps_line}" if eps_line else ""),
                 fontsize=11)


def plot_cost_to_reach(summary: dict, out_dir: str | Path, notes: list[str] | None = None) -> list[Path]:
    """Write ``cost_<backend>_<objective>.png``: median cost to reach each eps, per policy.

    Grouped bars (one group per eps, one colour per policy, the same colours as the regret plots)
    on a log axis with inter-quartile whiskers; hatched bars are censored medians (half or more of
    the seeds never reached eps, so the bar is the budget: a lower bound). Each bar is labelled
    with how many seeds reached eps. The x labels and title say what the thresholds are (fractions
    of which scale, or absolute).

    Left out, with a footnote in the figure and a line in ``notes``: policies that run nothing (no
    cost to plot), and each eps that no other policy's median reached (its bars would all be the
    budget); a problem with no eps left gets no figure at all.

    Args:
        summary: the dict from :func:`bomix.bench.aggregate.summarize`.
        out_dir: folder for the PNG files (created).
        notes: when given, a line is appended for each figure or eps group left out, and why. A figure
            left out is also removed from ``out_dir`` if an earlier call wrote it.

    Returns:
        The written paths.
    """
    plt, out, groups = _figures(summary["cost_to_reach"], out_dir)
    colours = policy_colours([r["policy"] for r in summary["cost_to_reach"]])
    thr = problem_thresholds(summary)
    notes = [] if notes is None else notes
    paths = []
    for (backend, objective), rows in sorted(groups.items()):
        path = out / f"cost_{_slug(backend)}_{_slug(objective)}.png"
        t = thr.get((backend, objective)) or {"eps": sorted({r["eps"] for r in rows}, reverse=True), "eps_frac": None}
        frac = dict(zip(t["eps"], t["eps_frac"] or [None] * len(t["eps"])))
        flat = sorted({r["policy"] for r in rows if r.get("spends_nothing")})
        drawn = [r for r in rows if r["policy"] not in flat]
        all_eps = sorted({r["eps"] for r in rows}, reverse=True)
        eps = [e for e in all_eps if any(r["eps"] == e and not r["censored"] for r in drawn)]
        dropped = [eps_label(e, frac.get(e)) for e in all_eps if e not in eps]
        problem = f"{backend} / {objective}"
        if not eps:
            notes.append(f"{path.name} not written: no policy that runs anything has a median cost to reach "
                         f"regret <= {', '.join(dropped)} on {problem} (every bar would be the budget)")
            path.unlink(missing_ok=True)  # not one left from an earlier bench into the same folder
            continue
        if dropped:
            notes.append(f"{path.name} leaves out eps {', '.join(dropped)}: no policy's median reached "
                         f"{'it' if len(dropped) == 1 else 'them'}")
        policies = sorted({r["policy"] for r in drawn})
        width = 0.8 / len(policies)
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(eps) * max(1, len(policies)) ** 0.5 + 3), 4.5), dpi=120)
        by = {(r["policy"], r["eps"]): r for r in drawn}
        for j, p in enumerate(policies):
            for i, e in enumerate(eps):
                r = by.get((p, e))
                if r is None or r["median"] is None or r["median"] <= 0:
                    continue
                _bar(ax, i - 0.4 + width * (j + 0.5), width, r, colours[p], label=p if i == 0 else None)
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        y0, y1 = ax.get_ylim()
        if y0 > 0 and np.log10(y1 / y0) < 1.2:  # less than a decade: label the minor ticks too
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(range(len(eps)), [f"regret <= {eps_label(e, frac.get(e))}" for e in eps])
        ax.set_ylabel("cost to reach (target-run equivalents)")
        sentence = threshold_sentence(t) if t.get("eps") else ""
        ax.set_title(f"{problem}: median cost to reach eps (hatched: not reached by most seeds)"
                     + (f"\n{sentence}" if sentence else ""), fontsize=10)
        ax.grid(True, axis="y", which="major", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)
        foot = ([f"not shown, no policy's median reached it: regret <= {', '.join(dropped)}"] if dropped else []) + \
            ([f"not shown, no runs (no cost): {', '.join(flat)}"] if flat else [])
        if foot:
            ax.annotate("; ".join(foot), xy=(0, 0), xycoords="axes fraction", xytext=(0, -32),
                        textcoords="offset points", va="top", fontsize=7, color="0.3")
        fig.tight_layout()
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def _bar(ax, x: float, width: float, r: dict, colour: tuple, label: str | None) -> None:
    """One cost-to-reach bar at ``x``: the median (hatched when censored), IQR whiskers, reached/seeds above."""
    med = r["median"]
    lo, hi = r["q25"] if r["q25"] is not None else med, r["q75"] if r["q75"] is not None else med
    ax.bar(x, med, width * 0.9, color=colour, alpha=0.45 if r["censored"] else 0.9,
           hatch="//" if r["censored"] else None, edgecolor=colour, label=label)
    ax.errorbar(x, med, yerr=[[max(med - lo, 0)], [max(hi - med, 0)]], color="0.2", capsize=2, lw=1)
    ax.annotate(f"{r['n_reached']}/{r['n_seeds']}", xy=(x, hi), xytext=(0, 2),
                textcoords="offset points", ha="center", va="bottom", fontsize=7)
