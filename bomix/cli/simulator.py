"""The ``bomix simulator build|validate`` command: argument parsing and printing.

The library it calls: :func:`bomix.backends.replay.build.build` (a replay simulator from logged runs),
:func:`bomix.runtable.load` (validate a logged-run table).
"""

from __future__ import annotations

import argparse

from bomix.backends.replay.build import MODES, build
from bomix.backends.replay.model import HYPER_TRAIN, MAX_TRAIN
from bomix.errors import BomixError
from bomix.runtable import load


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line BomixErrors (the CLI prints them and exits 2)."""

    def error(self, message: str):
        raise BomixError(f"{message}: usage `bomix simulator build TABLE --out DIR [--mode pool|model]`")


def cli_main(argv: list[str]) -> int:
    """``bomix simulator build TABLE --out DIR [--mode pool|model] [--target-scale S] [--target-step T]
    [--objective OBJ] [--name N] [--metrics m1,m2] [--holdout F] [--seed S]``."""
    p = _Parser(prog="bomix simulator", description="Build a replay simulator from logged runs.")
    sub = p.add_subparsers(dest="cmd")
    sub._parser_class = _Parser  # noqa: SLF001 - subparsers raise BomixError too
    b = sub.add_parser("build", help="validate a logged-run table and build a simulator directory")
    b.add_argument("table", help="CSV or parquet in the logged-run format (simulator/README.md)")
    b.add_argument("--out", required=True, help="output directory (load it with backend=replay backend.path=DIR)")
    b.add_argument("--mode", default="model", choices=MODES,
                   help="pool: exact replay of the logged points only; model: a regressor per metric answers any "
                        "query (default model)")
    b.add_argument("--target-scale", default=None, help="the target scale (default the largest logged scale)")
    b.add_argument("--target-step", type=int, default=None,
                   help="the target step (default the last logged step at the target scale)")
    b.add_argument("--objective", default=None, help="metric | mean:m1,m2 | max:m | JSON objective config")
    b.add_argument("--name", default=None, help="simulator name (default the table's file stem)")
    b.add_argument("--metrics", default=None, help="comma-separated metrics to model (default all)")
    b.add_argument("--holdout", type=float, default=0.2, help="fraction of runs held out for the report")
    b.add_argument("--seed", type=int, default=0, help="seed of the hold-out split and the model fits (default 0)")
    b.add_argument("--max-train", type=int, default=MAX_TRAIN,
                   help=f"training points per metric model at most (model mode; default {MAX_TRAIN})")
    b.add_argument("--hyper-train", type=int, default=HYPER_TRAIN,
                   help=f"rows per metric the GP hyperparameters are optimised on (default {HYPER_TRAIN}; then "
                        "conditioned on all --max-train rows)")
    b.add_argument("--workers", type=int, default=None, help="processes over metrics (default: one per core, <= 4)")
    b.add_argument("--refit", action="store_true", help="re-optimise GP hyperparameters on all runs (slower)")
    b.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub.add_parser("validate", help="only validate a table").add_argument("table")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.cmd == "validate":
        runs = load(args.table)
        print(f"{args.table}: ok, {runs.table['run_id'].nunique()} runs, {len(runs.table)} rows, "
              f"{len(runs.domains)} domains, {len(runs.metrics)} metrics, scales {runs.scales}")
        return 0
    if args.cmd != "build":
        raise BomixError("usage: bomix simulator build TABLE --out DIR [--mode pool|model] (or: validate TABLE)")
    if not 0 <= args.holdout < 1:
        raise BomixError(f"--holdout must be in [0, 1), got {args.holdout}")
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    out = build(args.table, args.out, mode=args.mode, target_scale=args.target_scale, target_step=args.target_step,
                objective=args.objective, name=args.name, metrics=metrics, holdout=args.holdout, seed=args.seed,
                max_train=args.max_train, hyper_train=args.hyper_train, workers=args.workers, refit=args.refit,
                progress=not args.no_progress)
    print(f"built {args.mode} simulator in {out} (report: {out / 'report.md'})")
    return 0
