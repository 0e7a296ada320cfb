"""The ``bomix reference DIR...`` command: reference values of metrics from runs of a reference mixture.

The library it calls: :func:`bomix.reference.reference_values`.
"""

from __future__ import annotations

from bomix.reference import reference_values
from bomix.space import Fidelity


def cli_main(argv: list[str]) -> int:
    """``bomix reference DIR... [--metrics m1,m2] [--fidelity SCALE@STEPS] [--json]``."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="bomix reference", description="mean final metrics of the runs of one reference "
                                 "mixture (e.g. policy=fixed campaigns): the reference: block of a normalised "
                                 "objective or of relative outcome constraints")
    ap.add_argument("dirs", nargs="+", help="campaign or study directories whose runs train the reference mixture")
    ap.add_argument("--metrics", help="comma-separated metrics (default: every metric the runs report)")
    ap.add_argument("--fidelity", help="SCALE@STEPS (default: each store's target fidelity)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a YAML block")
    args = ap.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    fid = Fidelity.parse(args.fidelity) if args.fidelity else None
    ref = reference_values(args.dirs, metrics, fid)
    if args.json:
        print(json.dumps(ref))
    else:
        print("reference:")
        for m, v in ref.items():
            print(f'  "{m}": {v:.6g}')
    return 0
