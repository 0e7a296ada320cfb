"""Plotly figures of a campaign's tables (:class:`bomix.report.data.CampaignData`): one function per figure.

Each figure is returned as a :class:`Figure` (a key, a title and the plotly figure as JSON text);
:mod:`bomix.report.page` places them. Text read from a store (domain, fidelity and policy names) is
HTML-escaped before plotly sees it (plotly renders a few HTML tags in names and hover text).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.extras import require
from bomix.report.data import CampaignData

#: the x axis of every figure over a campaign's life
COST_AXIS = "cumulative cost (target-run equivalents)"
#: figure heights in pixels
HEIGHT, TALL = 380, 520
#: a cost axis is logarithmic when its largest value is this many times its smallest (cheap runs stay visible)
LOG_RATIO = 30.0
#: weights below this are left out of hover texts and labels
SHOWN_WEIGHT = 0.005


@dataclass
class Figure:
    """One figure of the page: ``key`` names its slot (stable across refreshes); ``json`` is the plotly figure as
    JSON text (plotly escapes ``<`` and ``/`` in it, so it can sit inside a ``<script>`` element)."""

    key: str
    title: str
    json: str


def _go():
    return require("plotly.graph_objects", "report", "bomix report / bomix dashboard")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=False)


def domain_colors(domains: list[str]) -> dict[str, str]:
    """One colour per domain (the same in every figure of a campaign)."""
    from plotly import colors

    q = colors.qualitative
    palette = q.Plotly if len(domains) <= 10 else q.Dark24 + q.Light24
    return {d: palette[i % len(palette)] for i, d in enumerate(domains)}


def fidelity_colors(fidelities: list[str]) -> dict[str, str]:
    """Cheapest fidelity lightest, the most expensive darkest (Viridis, its too-light yellow end left out)."""
    from plotly import colors

    if len(fidelities) == 1:
        return {fidelities[0]: "#31688e"}
    pts = np.linspace(0.8, 0.0, len(fidelities)).tolist()
    return dict(zip(fidelities, colors.sample_colorscale("Viridis", pts)))


def legend_height(n_items: int) -> int:
    """A figure height that shows a vertical legend of ``n_items`` entries without a scroll bar."""
    return max(HEIGHT, 150 + 21 * n_items)


def _layout(fig, title: str, key: str, height: int = HEIGHT, subtitle: str | None = None, **kw) -> None:
    """Title (and a smaller second line ``subtitle``, which keeps a long title clear of plotly's toolbar)."""
    kw.setdefault("hovermode", "closest")
    kw.setdefault("margin", {"l": 70, "r": 20, "t": 50, "b": 60})
    text = _e(title) + (f"<br><sup>{_e(subtitle)}</sup>" if subtitle else "")
    fig.update_layout(title={"text": text, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
                      template="plotly_white", height=height, font={"size": 13}, uirevision=key, **kw)


def cost_axis(fig, costs, **kw) -> None:
    """Title the cost axis; logarithmic when the costs span more than :data:`LOG_RATIO`."""
    c = np.asarray(costs, dtype=float)
    c = c[np.isfinite(c) & (c > 0)]
    log = len(c) > 1 and c.max() > LOG_RATIO * c.min()
    fig.update_xaxes(title_text=COST_AXIS + (" (log scale)" if log else ""), type="log" if log else "linear",
                     tickformat="~g", **kw)  # 0.0003, not plotly's SI "300µ"


def _top_weights(row, domains: list[str], k: int = 4) -> str:
    w = sorted(((row[f"w:{d}"], d) for d in domains), reverse=True)
    return ", ".join(f"{_e(d)} {v:.2f}" for v, d in w[:k] if v >= SHOWN_WEIGHT)


def progress(c: CampaignData) -> Figure:
    """Each finished run's objective at the cost spent when it was dispatched, coloured by fidelity; the
    recommendation's true value and, below, its regret (simulators) or the best run at the target so far."""
    go = _go()
    from plotly.subplots import make_subplots

    truth = c.has_truth
    fig = make_subplots(rows=2 if truth else 1, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.62, 0.38] if truth else None)
    runs = c.runs[(c.runs["status"] == "ok") & c.runs["objective"].notna()]
    colors = fidelity_colors(c.fidelities)
    for fid in c.fidelities:
        r = runs[runs["fidelity"] == fid]
        if not len(r):
            continue
        hover = [f"{rid}<br>{_e(fid)}<br>{_e(c.objective)} {y:.4g}<br>{_top_weights(row, c.domains)}"
                 for rid, y, (_, row) in zip(r["run_id"], r["objective"], r.iterrows())]
        fig.add_trace(go.Scatter(x=r["cum_cost"], y=r["objective"], mode="markers", name=_e(fid),
                                 legendgroup="runs", legendgrouptitle={"text": "runs at fidelity"},
                                 marker={"color": colors[fid], "size": 8, "line": {"width": 0.5, "color": "white"}},
                                 hovertext=hover, hoverinfo="text"), row=1, col=1)
    rec = c.recommendations
    if truth:
        fig.add_trace(go.Scatter(x=rec["budget_used"], y=rec["true_value"], mode="lines", line_shape="hv",
                                 name="recommendation (true value)", legendgroup="rec",
                                 legendgrouptitle={"text": "recommendation"}, line={"color": "black", "width": 2}),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=rec["budget_used"], y=rec["regret"], mode="lines", line_shape="hv",
                                 name="regret", legendgroup="rec", line={"color": "#d62728", "width": 2}), row=2, col=1)
        fig.update_yaxes(title_text="regret", rangemode="tozero", row=2, col=1)
    elif c.target is not None and len(runs[runs["fidelity"] == c.target]):
        t = runs[runs["fidelity"] == c.target]
        fig.add_trace(go.Scatter(x=t["cum_cost"], y=t["objective"].cummin(), mode="lines", line_shape="hv",
                                 name=f"best run at {_e(c.target)} so far", line={"color": "black", "width": 2}),
                      row=1, col=1)
    if c.optimum is not None:
        fig.add_hline(y=c.optimum, line={"dash": "dash", "color": "grey"}, row=1, col=1,
                      annotation_text="simulator's optimum", annotation_position="top right")
    fig.update_yaxes(title_text=_e(c.objective), row=1, col=1)
    cost_axis(fig, np.r_[runs["cum_cost"], rec["budget_used"]])
    if truth:  # the cost axis is titled once, under the regret panel
        fig.update_xaxes(title_text=None, row=1, col=1)
    title = "Objective vs cost" + (" (and the recommendation's regret)" if truth else "")
    _layout(fig, title, f"{c.label}/progress", height=TALL if truth else HEIGHT,
            legend={"groupclick": "toggleitem"})
    return Figure("progress", title, fig.to_json())


def weights(c: CampaignData) -> Figure | None:
    """The recommended mixture after every result (stacked: each band is one domain's weight)."""
    rec = c.recommendations
    if not len(rec):
        return None
    go = _go()
    fig = go.Figure()
    colors = domain_colors(c.domains)
    final = rec.iloc[-1]
    for d in sorted(c.domains, key=lambda d: final[f"w:{d}"]):  # largest final weight on top (and first in the legend)
        fig.add_trace(go.Scatter(x=rec["budget_used"], y=rec[f"w:{d}"], mode="lines", line_shape="hv", name=_e(d),
                                 stackgroup="w", line={"width": 0.5, "color": colors[d]}, fillcolor=colors[d],
                                 hovertemplate=f"{_e(d)}: %{{y:.3f}}<extra></extra>"))
    title = "Recommended mixture over cost"
    _layout(fig, title, f"{c.label}/weights", height=legend_height(len(c.domains)), hovermode="x unified",
            legend={"title": {"text": "domain"}})
    fig.update_yaxes(title_text="weight", range=[0, 1])
    cost_axis(fig, rec["budget_used"])
    return Figure("weights", title, fig.to_json())


def fidelity_cost(c: CampaignData) -> Figure | None:
    """Cost charged per fidelity (pending runs included), cheapest fidelity first, with the number of runs."""
    fc = c.fidelity_cost
    if not len(fc):
        return None
    go = _go()
    colors = fidelity_colors(c.fidelities)
    fig = go.Figure(go.Bar(x=[_e(f) for f in fc["fidelity"]], y=fc["charged"],
                           marker={"color": [colors[f] for f in fc["fidelity"]]},
                           text=[f"{n} run{'s' * (n != 1)}" for n in fc["runs"]], textposition="outside",
                           hovertemplate="%{x}: %{y:.3g} target-run equivalents, %{text}<extra></extra>"))
    title = "Cost spent per fidelity"
    _layout(fig, title, f"{c.label}/fidelity_cost", showlegend=False)
    fig.update_yaxes(title_text="cost (target-run equivalents)", rangemode="tozero", tickformat="~g")
    fig.update_xaxes(title_text="fidelity (scale@steps)", type="category")
    fig.update_traces(cliponaxis=False)
    return Figure("fidelity_cost", title, fig.to_json())


def prediction(c: CampaignData) -> Figure | None:
    """The policy's prediction (mean +- sd) of every recommendation at the target, against each recommendation's
    true value (simulators) and the best run observed at the target, over cost; fallbacks (numerical, not the
    model's answer) are marked. A store without stored predictions (older) shows the latest one, from the summary.
    None without any prediction."""
    rec = c.recommendations
    if not c.has_predictions and c.predicted is None:
        return None
    go = _go()
    fig = go.Figure()
    x_end = float(rec["budget_used"].iloc[-1]) if len(rec) else float(c.runs["cum_cost"].max())
    if c.has_predictions:
        p = rec[rec["pred_mean"].notna()]
        hover = []
        for _, r in p.iterrows():
            h = f"after {int(r['n_finished'])} runs<br>predicted {r['pred_mean']:.4g} ± {r['pred_sd']:.2g}"
            if np.isfinite(r["true_value"]):
                z = (r["true_value"] - r["pred_mean"]) / r["pred_sd"] if r["pred_sd"] > 0 else np.inf
                h += f"<br>true {r['true_value']:.4g} ({z:+.2g} sd)"
            hover.append(h + ("<br>a numerical fallback" if r["fallback"] is True else ""))
        fig.add_trace(go.Scatter(x=p["budget_used"], y=p["pred_mean"], mode="markers",
                                 name="predicted ± sd (policy's model)", marker={"size": 6, "color": "#1f77b4"},
                                 error_y={"type": "data", "array": p["pred_sd"], "visible": True, "thickness": 1.5,
                                          "width": 3, "color": "rgba(31, 119, 180, 0.6)"},
                                 hovertext=hover, hoverinfo="text"))
    else:  # a store from before predictions were stored: the latest one, from the summary
        pl = c.predicted
        fig.add_trace(go.Scatter(x=[x_end], y=[pl["mean"]], mode="markers", name="predicted ± sd (policy's model)",
                                 error_y={"type": "data", "array": [pl["sd"]], "visible": True, "thickness": 2,
                                          "width": 8}, marker={"size": 11, "color": "#1f77b4"}))
    if c.has_truth:
        fig.add_trace(go.Scatter(x=rec["budget_used"], y=rec["true_value"], mode="lines+markers", line_shape="hv",
                                 name="recommendation's true value", line={"color": "black"}, marker={"size": 4}))
    fell_back = rec[rec["fallback"].map(lambda f: f is True)] if len(rec) else rec
    if len(fell_back):
        y = fell_back["pred_mean"].where(fell_back["pred_mean"].notna(), fell_back["true_value"])
        fig.add_trace(go.Scatter(x=fell_back["budget_used"], y=y, mode="markers", name="numerical fallback",
                                 marker={"symbol": "x", "size": 10, "color": "#d62728"},
                                 hovertemplate="a numerical fallback, not the model's answer<extra></extra>"))
    if c.best_observed is not None and isinstance(c.best_observed.get("value"), (int, float)):
        x0 = float(rec["budget_used"].iloc[0]) if len(rec) else x_end
        fig.add_trace(go.Scatter(x=[x0, x_end], y=[c.best_observed["value"]] * 2, mode="lines",
                                 name=f"best run at the target ({_e(c.best_observed.get('run_id', '?'))})",
                                 line={"color": "#2ca02c", "dash": "dot", "width": 2}))
    if c.optimum is not None:
        fig.add_hline(y=c.optimum, line={"dash": "dash", "color": "grey"}, annotation_text="simulator's optimum",
                      annotation_position="bottom right")
    head = f"Prediction vs truth at {c.target or 'the target'}"
    cover = coverage(rec)
    sub = None if cover is None else f"true value within ±1 sd: {cover[0]} of {cover[2]}, ±2 sd: {cover[1]}"
    title = head if sub is None else f"{head} ({sub})"
    _layout(fig, head, f"{c.label}/prediction", subtitle=sub,
            legend={"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top"},
            margin={"l": 70, "r": 20, "t": 70 if sub else 50, "b": 40})
    fig.update_yaxes(title_text=_e(c.objective))
    cost_axis(fig, rec["budget_used"] if len(rec) else [x_end])
    return Figure("prediction", title, fig.to_json())


def coverage(rec) -> tuple[int, int, int] | None:
    """(within 1 sd, within 2 sd, of n): recommendations whose true value lies within their predicted mean +- 1 / 2
    sd, among those with both a prediction and a true value (None: none has both)."""
    if not len(rec):
        return None
    both = rec[rec["pred_mean"].notna() & rec["true_value"].notna()]
    if not len(both):
        return None
    err = (both["true_value"] - both["pred_mean"]).abs().to_numpy()
    sd = both["pred_sd"].to_numpy()
    return int((err <= sd).sum()), int((err <= 2 * sd).sum()), len(both)


def mixtures(c: CampaignData) -> Figure | None:
    """The latest recommendation and the runner-up runs (the best at the highest fidelity reached) side by side."""
    rows: list[tuple[str, dict]] = []
    if len(c.recommendations):
        last = c.recommendations.iloc[-1]
        rows.append(("recommended", {d: float(last[f"w:{d}"]) for d in c.domains}))
    for _, r in c.runners_up.iterrows():
        rows.append((f"{r['run_id']} ({r['objective']:.4g})", {d: float(r[f"w:{d}"]) for d in c.domains}))
    if not rows:
        return None
    go = _go()
    colors = domain_colors(c.domains)
    labels = [lab for lab, _ in rows]
    fig = go.Figure()
    for d in sorted(c.domains, key=lambda d: -rows[0][1][d]):  # largest first (left, and first in the legend)
        fig.add_trace(go.Bar(y=labels, x=[w[d] for _, w in rows], name=_e(d), orientation="h",
                             marker={"color": colors[d]}, hovertemplate=f"{_e(d)}: %{{x:.3f}}<extra>%{{y}}</extra>"))
    fid = c.runners_up["fidelity"].iloc[0] if len(c.runners_up) else None
    title = "Recommended and runner-up mixtures"
    _layout(fig, title, f"{c.label}/mixtures", height=max(120 + 40 * len(rows), legend_height(len(c.domains))),
            barmode="stack", legend={"title": {"text": "domain"}, "traceorder": "normal"})
    fig.update_yaxes(autorange="reversed", title_text=None)
    fig.update_xaxes(title_text="weight" + (f" (runner-ups: the best runs at {_e(fid)})" if fid else ""), range=[0, 1])
    return Figure("mixtures", title, fig.to_json())


def campaign_figures(c: CampaignData) -> list[Figure]:
    """Every figure of one campaign, in page order (figures without data are left out)."""
    figs = [progress(c), weights(c), fidelity_cost(c), prediction(c), mixtures(c)]
    return [f for f in figs if f is not None]


def comparison(campaigns: list[CampaignData]) -> Figure | None:
    """Regret of each campaign's recommendation vs cost (campaigns on a simulator; None without any)."""
    with_truth = [c for c in campaigns if c.has_truth]
    if len(campaigns) < 2 or not with_truth:
        return None
    go = _go()
    fig = go.Figure()
    for c in with_truth:
        rec = c.recommendations
        fig.add_trace(go.Scatter(x=rec["budget_used"], y=rec["regret"], mode="lines", line_shape="hv",
                                 name=_e(f"{c.label} ({c.policy})")))
    title = "Regret of the recommendation vs cost, every campaign"
    _layout(fig, title, "comparison", legend={"title": {"text": "campaign (policy)"}})
    fig.update_yaxes(title_text="regret", rangemode="tozero")
    cost_axis(fig, np.concatenate([c.recommendations["budget_used"].to_numpy() for c in with_truth]))
    return Figure("comparison", title, fig.to_json())
