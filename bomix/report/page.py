"""The HTML page: one section per campaign (summary text, figures, runner-up table) and, for several, a comparison.

:func:`build` returns the page's parts (the ``<main>`` HTML and the figures' JSON); :func:`page` wraps them in a
self-contained document. Every string read from a store or a summary is HTML-escaped here; the figures travel as
JSON data (never as script text) and one fixed script of ours draws them with plotly.js (inline for a report file,
a URL for the dashboard). The dashboard swaps in new parts from ``state.json`` the same way.
"""

from __future__ import annotations

import hashlib
import html
import json
import time
from dataclasses import dataclass

from bomix.report.data import CampaignData, ReportData
from bomix.report.figures import Figure, campaign_figures, comparison

#: a report file's Content-Security-Policy: its own inline script and styles, no network at all
REPORT_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
              "font-src data:; base-uri 'none'; form-action 'none'")
#: figures that take a whole row of the page
WIDE = ("progress", "comparison")
#: weights listed per runner-up in its table
TABLE_WEIGHTS = 6

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222;
       background: #f6f7f9; }
header { background: #1f2d3d; color: #fff; padding: 14px 28px; display: flex; align-items: baseline; gap: 18px; }
header h1 { font-size: 20px; margin: 0; }
header .meta { color: #c8d3df; font-size: 13px; }
#live { margin-left: auto; font-size: 13px; color: #c8d3df; }
main { max-width: 1500px; margin: 0 auto; padding: 12px 28px 40px; }
section { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; margin: 18px 0; padding: 12px 18px; }
h2 { font-size: 18px; margin: 6px 0 4px; word-break: break-all; }
.facts { color: #555; font-size: 13px; margin: 0 0 8px; }
.status { font-weight: 600; }
.status-running { color: #1a7f37; } .status-interrupted, .status-stalled { color: #b35900; }
pre.summary { background: #f3f5f7; border: 1px solid #e1e5ea; border-radius: 4px; padding: 10px 12px; font-size: 12.5px;
              line-height: 1.4; overflow-x: auto; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 12px; }
.plot { min-height: 300px; }
.plot.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid #e1e5ea; padding: 4px 10px; text-align: left; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.error { color: #a00; }
"""

#: draws every ``div.plot[data-fig]`` from the figures' JSON; with ``data-refresh`` on <body> it polls state.json
SCRIPT = r"""
(function () {
  var config = {responsive: true, displaylogo: false};
  function draw(root, figs) {
    root.querySelectorAll('div.plot[data-fig]').forEach(function (el) {
      var f = figs[Number(el.getAttribute('data-fig'))];
      if (f) { Plotly.react(el, f.data, f.layout, config); }
    });
  }
  draw(document, JSON.parse(document.getElementById('bomix-figures').textContent));
  var refresh = Number(document.body.getAttribute('data-refresh') || 0);
  if (!refresh) { return; }
  var version = document.body.getAttribute('data-version');
  var live = document.getElementById('live');
  function swap(state) {
    var fresh = document.createElement('div');
    fresh.innerHTML = state.html;  // our own markup: every value in it was escaped by the server
    fresh.querySelectorAll('div.plot[id]').forEach(function (el) {  // keep drawn plots (and their zoom)
      var old = document.getElementById(el.id);
      if (old) { old.setAttribute('data-fig', el.getAttribute('data-fig')); el.replaceWith(old); }
    });
    var main = document.getElementById('content');
    main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
    draw(main, state.figures);
  }
  function poll() {
    fetch('state.json?v=' + encodeURIComponent(version), {cache: 'no-store'})
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(function (state) {
        if (state.version !== version) { swap(state); version = state.version; }
        live.textContent = 'live: checked ' + new Date().toLocaleTimeString();
      })
      .catch(function (e) { live.textContent = 'dashboard server unreachable (' + e.message + '); retrying'; })
      .then(function () { setTimeout(poll, refresh * 1000); });
  }
  setTimeout(poll, refresh * 1000);
})();
"""


@dataclass
class Built:
    """A page's content: the ``<main>`` HTML (figure slots ``div.plot[data-fig=i]``) and figure ``i``'s JSON text."""

    html: str
    figures: list[Figure]

    def figures_json(self) -> str:
        """The figures as one JSON array (``<`` and ``/`` stay escaped inside it: safe in a ``<script>``)."""
        return "[" + ",".join(f.json for f in self.figures) + "]"


def _e(x) -> str:
    return html.escape(str(x))


def _fmt(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """An HTML table; cells are already-escaped strings."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=\"num\">{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Slots:
    """Numbers the figures in page order and writes their slots."""

    def __init__(self):
        self.figures: list[Figure] = []

    def slot(self, fig: Figure, prefix: str) -> str:
        self.figures.append(fig)
        wide = " wide" if fig.key in WIDE else ""
        return (f'<div class="plot{wide}" id="{_e(prefix)}-{_e(fig.key)}" data-fig="{len(self.figures) - 1}" '
                f'aria-label="{_e(fig.title)}"></div>')


def comparison_section(campaigns: list[CampaignData], slots: _Slots) -> str:
    """The table that compares campaigns (policy, budget used, runs, final regret / objective) and their regret."""
    rows = []
    for c in campaigns:
        f = c.final
        used = f"{_fmt(f['budget_used'], 3)} of {_fmt(f['budget'], 3)}"
        runs = f"{f['runs']}" + (f" (+{f['pending']} pending)" if f["pending"] else "")
        rows.append([f'<a href="#{_e(_anchor(c))}">{_e(c.label)}</a>', _e(f["policy"]), _e(f["backend"]),
                     _e(f["status"]), used, runs, _fmt(f["regret"], 3), _fmt(f["true_value"]),
                     _fmt(f["best_observed"]), _e(f["stop_reason"] or "-")])
    table = _table(["campaign", "policy", "backend", "status", "budget used", "runs", "final regret",
                    "final true objective", "best run at target", "stopped"], rows, numeric={4, 5, 6, 7, 8})
    fig = comparison(campaigns)
    plot = slots.slot(fig, "all") if fig is not None else ""
    return f'<section id="comparison"><h2>Comparison of {len(campaigns)} campaigns</h2>{table}{plot}</section>'


def _anchor(c: CampaignData) -> str:
    """The campaign's element id: readable, and unique (two labels may differ only in punctuation)."""
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in c.label)[:60]
    return f"c-{slug}-{hashlib.sha1(c.label.encode()).hexdigest()[:6]}"


def runners_up_table(c: CampaignData) -> str:
    """The runner-up runs with their objective and largest weights."""
    if not len(c.runners_up):
        return ""
    rows = []
    for i, r in c.runners_up.iterrows():
        w = sorted(((float(r[f"w:{d}"]), d) for d in c.domains), reverse=True)[:TABLE_WEIGHTS]
        rows.append([str(i + 1), _e(r["run_id"]), _e(r["fidelity"]), f"{r['objective']:.5g}",
                     _e(", ".join(f"{d} {v:.3f}" for v, d in w if v >= 0.0005))])
    return ("<h3>Runner-up mixtures</h3>"
            + _table(["#", "run", "fidelity", _e(c.objective), "largest weights"], rows, numeric={3}))


def campaign_section(c: CampaignData, slots: _Slots) -> str:
    """One campaign: its facts, the summary `bomix show` prints, its figures and its runner-ups."""
    n_done = int((c.runs["status"] != "pending").sum())
    n_pending = int((c.runs["status"] == "pending").sum())
    status = f'<span class="status status-{_e(c.status.split()[0])}">{_e(c.status)}</span>'
    runs = (f'<span class="runs" data-runs="{n_done}" data-pending="{n_pending}">{n_done} runs finished'
            f'{f", {n_pending} pending" if n_pending else ""}</span>')
    facts = (f'{_e(c.kind)} · policy <b>{_e(c.policy)}</b> · backend {_e(c.backend or "-")} · objective '
             f'{_e(c.objective)} · target {_e(c.target or "-")} · {status} · {runs}')
    plots = "".join(slots.slot(f, _anchor(c)) for f in campaign_figures(c))
    return (f'<section id="{_e(_anchor(c))}" class="campaign"><h2>{_e(c.label)}</h2><p class="facts">{facts}</p>'
            f'<p class="facts">{_e(c.directory)}</p><pre class="summary">{_e(c.summary_text)}</pre>'
            f'<div class="plots">{plots}</div>{runners_up_table(c)}</section>')


def build(data: ReportData) -> Built:
    """The ``<main>`` content of the page for ``data`` and its figures."""
    slots = _Slots()
    parts = []
    if len(data.campaigns) > 1:
        parts.append(comparison_section(data.campaigns, slots))
    if data.errors:
        items = "".join(f"<li><b>{_e(x['directory'])}</b>: {_e(x['error'])}</li>" for x in data.errors)
        parts.append(f'<section class="error"><h2>Directories that could not be read</h2><ul>{items}</ul></section>')
    if not data.campaigns and not data.errors:
        parts.append("<section><p>No campaign yet: this page shows one as soon as its store exists.</p></section>")
    parts += [campaign_section(c, slots) for c in data.campaigns]
    return Built("".join(parts), slots.figures)


def page(built: Built, *, title: str, plotly_js: str | None = None, plotly_src: str | None = None,
         refresh: float | None = None, version: str = "") -> str:
    """The whole HTML document. Give ``plotly_js`` (the library's text, inlined: a self-contained file) or
    ``plotly_src`` (a URL; the server then sends its own Content-Security-Policy); ``refresh`` seconds make the page
    poll ``state.json`` (the dashboard)."""
    if (plotly_js is None) == (plotly_src is None):
        raise ValueError("give one of plotly_js and plotly_src")
    lib = (f"<meta http-equiv=\"Content-Security-Policy\" content=\"{REPORT_CSP}\"><script>{plotly_js}</script>"
           if plotly_js is not None else f'<script src="{_e(plotly_src)}"></script>')
    body_attrs = f' data-refresh="{refresh:g}" data-version="{_e(version)}"' if refresh else ""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<link rel=\"icon\" href=\"data:,\"><style>{CSS}</style>{lib}</head>"
            f"<body{body_attrs}><header><h1>{_e(title)}</h1><span class=\"meta\">made {stamp} by bomix</span>"
            "<span id=\"live\"></span></header>"
            f"<main id=\"content\">{built.html}</main>"
            f"<script type=\"application/json\" id=\"bomix-figures\">{built.figures_json()}</script>"
            f"<script>{SCRIPT}</script></body></html>\n")


def state(built: Built, version: str) -> str:
    """The dashboard's ``state.json``: the new ``<main>`` HTML and figures, under ``version``."""
    head = json.dumps({"version": version, "html": built.html})
    return head[:-1] + ', "figures": ' + built.figures_json() + "}"
