"""``bomix bench DIR... [--out OUT] [--eps 0.01 0.005 0.001] [--baseline POLICY]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bomix.bench.loading import load_campaigns
from bomix.bench.reach import DEFAULT_EPS
from bomix.bench.report import to_markdown
from bomix.bench.tables import summarize_frame
from bomix.errors import BomixError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one-line BomixError instead of argparse's usage + exit
        raise BomixError(f"bench: {message} (see `bomix bench --help`)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bomix bench", description=(
        "Aggregate campaign directories (or folders containing them, e.g. a Hydra multirun) into "
        "regret-vs-cost curves, cost to reach regret <= eps, speedups, final regret; writes "
        "results.json, results.md and PNG plots to --out and prints the markdown."))
    p.add_argument("dirs", nargs="+", metavar="DIR", help="campaign directories or parents (searched recursively)")
    p.add_argument("--out", default="bench", help="output folder (default: ./bench)")
    p.add_argument("--eps", nargs="+", type=float, default=list(DEFAULT_EPS),
                   help="regret thresholds (default: 0.01 0.005 0.001)")
    p.add_argument("--baseline", default=None, help="report speedups over this policy only (default: all pairs)")
    p.add_argument("--grid-points", type=int, default=200, help="points of the log-spaced cost grid (default 200)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return p


def cli_main(argv: list[str]) -> int:
    """Run ``bomix bench``; returns the exit code (bad input raises :class:`BomixError`)."""
    args = parser().parse_args(argv)
    if args.grid_points < 2:
        raise BomixError(f"--grid-points must be >= 2, got {args.grid_points}")
    df = load_campaigns(args.dirs)
    summary = summarize_frame(df, args.eps, baseline=args.baseline, n_points=args.grid_points)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BomixError(f"cannot create --out {out}: {exc.strerror}") from None
    plots = []
    if not args.no_plots:
        from bomix.bench.plots import plot_cost_to_reach, plot_regret_curves

        plots = plot_regret_curves(summary, out) + plot_cost_to_reach(summary, out)
    summary["plots"] = [str(p) for p in plots]
    (out / "results.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    md = to_markdown(summary)
    if plots:
        md += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    (out / "results.md").write_text(md)
    print(md, end="")
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}" + (f" and {len(plots)} plot(s)" if plots else ""))
    return 0
