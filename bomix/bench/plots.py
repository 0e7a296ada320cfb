"""PNG plots of regret vs cost (matplotlib, Agg backend): one figure per (backend, objective)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "x"


def policy_colours(policies: list[str]) -> dict[str, tuple]:
    """One stable colour per policy name (tab10, then tab20 when there are more than 10)."""
    import matplotlib

    names = sorted(set(policies))
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {p: cmap(i % cmap.N) for i, p in enumerate(names)}


def plot_regret_curves(summary: dict, out_dir: str | Path) -> list[Path]:
    """Write ``regret_<backend>_<objective>.png`` for every problem with regret curves.

    Each figure: log-x cost in target-run equivalents, log-y regret, one colour per policy, median
    line with its inter-quartile band, each eps as a dashed grey line, title with backend,
    objective and seed counts. Regrets of exactly 0 are drawn at a floor stated in the y label.

    Args:
        summary: the dict from :func:`bomix.bench.aggregate.summarize`.
        out_dir: folder for the PNG files (created).

    Returns:
        The written paths.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in summary["curves"]:
        groups[(c["backend"], c["objective"])].append(c)
    colours = policy_colours([c["policy"] for c in summary["curves"]])
    eps = [e for e in summary.get("eps", []) if e > 0]
    paths = []
    for (backend, objective), curves in sorted(groups.items()):
        arrays = []
        for c in curves:
            cost = np.asarray(c["cost"], dtype=float)
            med, lo, hi = (np.asarray([np.nan if v is None else v for v in c[k]], dtype=float)
                           for k in ("median", "q25", "q75"))
            arrays.append((c, cost, med, lo, hi))
        vals = np.concatenate([np.r_[m, l, h] for _, _, m, l, h in arrays] + [np.asarray(eps, dtype=float)])
        pos = vals[np.isfinite(vals) & (vals > 0)]
        floor = float(pos.min()) / 3 if pos.size else 1e-6
        clipped = False
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
        for c, cost, med, lo, hi in arrays:
            ok = (cost > 0) & np.isfinite(med)
            if not ok.any():
                continue
            clipped |= bool(np.any(np.r_[med[ok], lo[ok], hi[ok]] < floor))
            col = colours[c["policy"]]
            ax.step(cost[ok], np.maximum(med[ok], floor), where="post", color=col, lw=2,
                    label=f"{c['policy']} (n={c['n_seeds']})")
            band = ok & np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(cost[band], np.maximum(lo[band], floor), np.maximum(hi[band], floor), step="post",
                            color=col, alpha=0.2, lw=0)
        for e in eps:
            ax.axhline(e, color="0.4", ls="--", lw=1)
            ax.annotate(f"eps={e:g}", xy=(1.0, e), xycoords=("axes fraction", "data"), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=8, color="0.3")
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        lo_x, hi_x = ax.get_xlim()
        decades = np.log10(hi_x / lo_x) if lo_x > 0 else 3.0
        subs = tuple(range(1, 10)) if decades < 1.2 else (1, 2, 5) if decades < 3 else (1,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=[float(x) for x in subs]))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("cumulative cost (target-run equivalents)")
        ax.set_ylabel("regret at target" + (f" (0 drawn at {floor:.1g})" if clipped else ""))
        seeds = sorted({c["n_seeds"] for c in curves})
        n = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        ax.set_title(f"{backend} / {objective}: median and IQR over {n} seed{'s' if n != '1' else ''}")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="best", fontsize=8, frameon=True, framealpha=0.9, edgecolor="0.8")
        fig.tight_layout()
        path = out / f"regret_{_slug(backend)}_{_slug(objective)}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_cost_to_reach(summary: dict, out_dir: str | Path) -> list[Path]:
    """Write ``cost_<backend>_<objective>.png``: median cost to reach each eps, per policy.

    Grouped bars (one group per eps, one colour per policy, the same colours as the regret plots)
    on a log axis with inter-quartile whiskers; hatched bars are censored medians (half or more of
    the seeds never reached eps, so the bar is the budget: a lower bound). Each bar is labelled
    with how many seeds reached eps.

    Args:
        summary: the dict from :func:`bomix.bench.aggregate.summarize`.
        out_dir: folder for the PNG files (created).

    Returns:
        The written paths.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in summary["cost_to_reach"]:
        groups[(r["backend"], r["objective"])].append(r)
    colours = policy_colours([r["policy"] for r in summary["cost_to_reach"]])
    paths = []
    for (backend, objective), rows in sorted(groups.items()):
        eps = sorted({r["eps"] for r in rows}, reverse=True)
        policies = sorted({r["policy"] for r in rows})
        width = 0.8 / len(policies)
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(eps) * max(1, len(policies)) ** 0.5 + 3), 4.5), dpi=120)
        by = {(r["policy"], r["eps"]): r for r in rows}
        for j, p in enumerate(policies):
            for i, e in enumerate(eps):
                r = by.get((p, e))
                if r is None or r["median"] is None or r["median"] <= 0:
                    continue
                x = i - 0.4 + width * (j + 0.5)
                med = r["median"]
                lo, hi = r["q25"] if r["q25"] is not None else med, r["q75"] if r["q75"] is not None else med
                ax.bar(x, med, width * 0.9, color=colours[p], alpha=0.45 if r["censored"] else 0.9,
                       hatch="//" if r["censored"] else None, edgecolor=colours[p],
                       label=p if i == 0 else None)
                ax.errorbar(x, med, yerr=[[max(med - lo, 0)], [max(hi - med, 0)]], color="0.2", capsize=2, lw=1)
                ax.annotate(f"{r['n_reached']}/{r['n_seeds']}", xy=(x, hi), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        y0, y1 = ax.get_ylim()
        if y0 > 0 and np.log10(y1 / y0) < 1.2:  # less than a decade: label the minor ticks too
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xticks(range(len(eps)), [f"regret <= {e:g}" for e in eps])
        ax.set_ylabel("cost to reach (target-run equivalents)")
        ax.set_title(f"{backend} / {objective}: median cost to reach eps (hatched: not reached by most seeds)",
                     fontsize=10)
        ax.grid(True, axis="y", which="major", alpha=0.3)
        ax.legend(loc="best", fontsize=8, frameon=True, framealpha=0.9, edgecolor="0.8")
        fig.tight_layout()
        path = out / f"cost_{_slug(backend)}_{_slug(objective)}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
