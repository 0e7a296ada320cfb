"""``bomix bench DIR... [--out OUT] [--eps-frac 0.1 0.05 0.01 | --eps 0.01 0.005] [--baseline POLICY]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bomix.bench.loading import find_campaigns, load_campaigns
from bomix.bench.reach import DEFAULT_EPS_FRAC
from bomix.bench.report import to_markdown
from bomix.bench.tables import summarize_frame
from bomix.errors import BomixError, unwritable


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one-line BomixError instead of argparse's usage + exit
        raise BomixError(f"bench: {message} (see `bomix bench --help`)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bomix bench", description=(
        "Aggregate campaign directories (or folders containing them, e.g. a Hydra multirun) into "
        "regret-vs-cost curves, cost to reach regret <= eps, speedups, final regret; writes "
        "results.json, results.md and PNG plots to --out and prints the markdown. By default the "
        "thresholds eps are fractions of each problem's scale (--eps-frac); --eps gives absolute ones."))
    p.add_argument("dirs", nargs="+", metavar="DIR", help="campaign directories or parents (searched recursively)")
    p.add_argument("--out", default="bench", help="output folder (default: ./bench)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--eps-frac", nargs="+", type=float, default=None, metavar="FRAC",
                       help="regret thresholds as fractions of each problem's scale: uniform's regret when a "
                            "uniform campaign is among DIR, else the largest regret recommended (default: "
                            + " ".join(f"{f:g}" for f in DEFAULT_EPS_FRAC) + ")")
    which.add_argument("--eps", nargs="+", type=float, default=None,
                       help="absolute regret thresholds, the same on every problem (e.g. 0.01 0.005 0.001, "
                            "the defaults before relative ones)")
    p.add_argument("--baseline", default=None, help="report speedups over this policy only (default: all pairs)")
    p.add_argument("--grid-points", type=int, default=200, help="points of the log-spaced cost grid (default 200)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return p


def cli_main(argv: list[str]) -> int:
    """Run ``bomix bench``; returns the exit code (bad input raises :class:`BomixError`)."""
    args = parser().parse_args(argv)
    if args.grid_points < 2:
        raise BomixError(f"--grid-points must be >= 2, got {args.grid_points}")
    found, unfinished = find_campaigns(args.dirs)
    if not found:
        raise BomixError(no_campaign_message(args.dirs, unfinished))
    df = load_campaigns(args.dirs)
    df.attrs["skipped"] = [mark_running(s) for s in df.attrs.get("skipped", [])]
    summary = summarize_frame(df, args.eps, baseline=args.baseline, n_points=args.grid_points, eps_frac=args.eps_frac)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        plots: list[Path] = []
        omitted: list[str] = []
        if not args.no_plots:
            from bomix.bench.plots import plot_cost_to_reach, plot_regret_curves

            plots = plot_regret_curves(summary, out) + plot_cost_to_reach(summary, out, omitted)
        summary["plots"] = [str(p) for p in plots]
        summary["plots_omitted"] = omitted
        (out / "results.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
        md = to_markdown(summary)
        if plots or omitted:
            md += ("\n## Plots\n\n" + "".join(f"![{p.stem}]({p.name})\n" for p in plots)
                   + "".join(f"- {n}\n" for n in omitted))
        (out / "results.md").write_text(md)
    except OSError as exc:
        msg = unwritable(exc, "--out")
        if msg is None:
            raise
        raise BomixError(msg) from None
    print(md, end="")
    not_written = sum(" not written:" in n for n in omitted)
    print(f"\nwrote {out / 'results.json'}, {out / 'results.md'}" + (f" and {len(plots)} plot(s)" if plots else "")
          + (f"; {not_written} empty plot(s) not written (see Plots above)" if not_written else ""))
    return 0


# ----- campaigns without a summary: running or interrupted ----------------------------------------
def running_holder(directory: str | Path) -> str | None:
    """``"pid N on HOST since T"`` when a live process holds the campaign's lock (:func:`bomix.lock.holder`)."""
    from bomix.lock import holder

    try:
        return holder(directory)
    except OSError:  # not readable, or a link: nobody bomix knows of
        return None


def mark_running(entry: dict) -> dict:
    """A skipped-campaign entry of :func:`find_campaigns`, its reason saying "running" when it runs."""
    holder = running_holder(entry["campaign"])
    if holder is None:
        return entry
    return dict(entry, reason=f"no summary.json yet: running ({holder}); bench it again when it finishes")


def no_campaign_message(paths: list[str], unfinished: list[dict]) -> str:
    """Why there is nothing to aggregate: no campaign at all, or only running / interrupted ones."""
    where = ", ".join(map(str, paths))
    running = [e for e in unfinished if running_holder(e["campaign"]) is not None]
    if not unfinished:
        return f"no campaign directory (with summary.json) found under {where}: run campaigns with `bomix run` first"
    parts = []
    if running:
        parts.append(f"{len(running)} still running (wait for {'it' if len(running) == 1 else 'them'} to finish)")
    n = len(unfinished) - len(running)
    if n:
        parts.append(f"{n} interrupted (re-run {'its command to finish it' if n == 1 else 'their commands to finish them'})")
    return f"no finished campaign (with summary.json) under {where}: {' and '.join(parts)}"
