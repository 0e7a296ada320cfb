"""The ``bomix export CAMPAIGN --out runs.csv`` command: argument parsing and printing.

The library it calls: :func:`bomix.export.export_campaign`.
"""

from __future__ import annotations

from bomix.export import export_campaign


def cli_main(argv: list[str]) -> int:
    """``bomix export CAMPAIGN --out runs.csv``: a campaign's ok runs in the logged-run format."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="bomix export", description="export a campaign's finished runs in the "
                                 "logged-run format (simulator/README.md), e.g. to build a replay simulator")
    ap.add_argument("campaign", help="campaign directory (with store.sqlite)")
    ap.add_argument("--out", "-o", required=True, help="output .csv or .parquet")
    args = ap.parse_args(argv)
    df = export_campaign(args.campaign, args.out)
    print(json.dumps({"out": str(args.out), "rows": len(df), "runs": int(df["run_id"].nunique())}))
    return 0
