"""The ``bomix suggest RUNS`` command: argument parsing and printing.

The library it calls: :func:`bomix.suggest.readers.read_runs` (a logged-run file in any supported format) and
:func:`bomix.suggest.suggest.suggest` (the method's recommendation, prediction, trust and next runs).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from bomix.errors import BomixError
from bomix.space import Fidelity

if TYPE_CHECKING:
    from bomix.suggest.suggest import Suggestion

#: torch threads by default: at load 10 on 2 cores, mfbo on RegMix's 512 runs took 69-82 s with torch's default 2
#: threads and 11-14 s with 1 (the GP is small; extra threads only oversubscribe shared cores)
THREADS = 1
USAGE = "bomix suggest RUNS [--method M] [--objective OBJ] [--target SCALE@STEPS] [--next K] [--json]"


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line BomixErrors (the CLI prints them and exits 2)."""

    def error(self, message: str):
        raise BomixError(f"{message}: usage `{USAGE}` (bomix suggest --help)")


def parser() -> argparse.ArgumentParser:
    from bomix.suggest.readers import FORMATS

    p = _Parser(prog="bomix suggest", description="Recommend a mixture from logged runs with any method that learns "
                "from runs: the same answer as a campaign that ends with those runs.")
    p.add_argument("runs", help="logged runs: a long-format CSV/parquet (simulator/README.md, `bomix export`), "
                                "RegMix's mixture CSV or data folder, Olmix's ratios.csv/metrics.csv folder, or a "
                                "W&B runs export CSV")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="the file's format (default: "
                                                                                  "told by its name and columns)")
    p.add_argument("--method", default="mfbo", help="a policy that learns from runs: mfbo, regmix, dml, ... "
                                                    "(conf/policy; default mfbo)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a policy option, as `bomix run policy.KEY=VALUE` (repeatable): --option n_runs=512, "
                        "--option gp.maxiter=20")
    p.add_argument("--seed", type=int, default=0, help="the policy's seed (a campaign's seed; default 0)")
    p.add_argument("--objective", default=None,
                   help="metric | mean:m1,m2 | max:m | JSON (default: the table's one metric, or a `bomix export` "
                        "sidecar's objective)")
    p.add_argument("--target", default=None, metavar="SCALE@STEPS",
                   help="the fidelity to recommend for (default the largest logged scale at its last logged step)")
    p.add_argument("--target-params", type=float, default=None, metavar="N",
                   help="parameter count of a --target scale the runs do not have (e.g. 1e9)")
    p.add_argument("--next", type=int, default=0, metavar="K", help="also list the next K runs worth buying")
    p.add_argument("--budget", type=float, default=1.0, metavar="B",
                   help="target-run equivalents left for those runs (default 1: one target run)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the text")
    p.add_argument("--threads", type=int, default=THREADS, metavar="N",
                   help=f"torch threads for the method's model (default {THREADS}: on shared cores more threads "
                        "oversubscribe them)")
    g = p.add_argument_group("selecting and mapping runs")
    g.add_argument("--runs", dest="select", default=None, metavar="GLOB",
                   help="keep only the runs whose id matches this shell pattern (e.g. '1M-train-*')")
    g.add_argument("--domains", default=None, metavar="D1,D2,...",
                   help="the training domains the file must have, exactly (and their order)")
    g.add_argument("--fidelity", default=None, metavar="SCALE@STEPS",
                   help="RegMix/Olmix/W&B runs log no fidelity: the scale name and steps they trained (default "
                        "RegMix's own for its files, else proxy@1)")
    g.add_argument("--params", type=float, default=None, metavar="N", help="the parameter count of --fidelity's scale")
    g.add_argument("--map", action="append", default=[], metavar="KEY=COLUMN",
                   help="W&B export columns (repeatable): run=Name (default), weights=PREFIX (default mix. or "
                        "weights/), metrics=COLUMN[,PREFIX...] (default the objective's), steps=COLUMN, params=COLUMN")
    return p


def parse_options(items: list[str]) -> dict:
    """``["n_runs=512", "gp.maxiter=20"]`` -> ``{"n_runs": 512, "gp": {"maxiter": 20}}`` (values read as YAML
    scalars / flow collections: data only)."""
    import yaml

    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = [k.strip() for k in key.split(".")]
        if not sep or not all(parts):
            raise BomixError(f"bad --option {item!r}: write KEY=VALUE, e.g. --option n_runs=512")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BomixError(f"--option {item!r}: the value is not valid YAML ({str(exc).splitlines()[0]})") from None
        node = out
        for k in parts[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise BomixError(f"--option {item!r} conflicts with an earlier --option {k}=...")
        node[parts[-1]] = value
    return out


def cli_main(argv: list[str]) -> int:
    """``bomix suggest RUNS ...`` (see :func:`parser`); prints the text block, or one JSON object with --json."""
    from bomix.suggest.text import format_suggestion

    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.threads < 1:
        raise BomixError(f"--threads must be >= 1, got {args.threads}")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = _suggest(args)
    finally:
        torch.set_num_threads(threads)  # (a caller in the same process keeps its own)
    print(json.dumps(result.to_dict()) if args.json else format_suggestion(result))
    return 0


def _suggest(args: argparse.Namespace) -> "Suggestion":
    """Read the runs and ask the method, as the parsed arguments say."""
    from bomix.suggest.problem import objective_config, objective_metrics
    from bomix.suggest.readers import WandbColumns, read_runs
    from bomix.suggest.suggest import suggest

    objective = objective_config(args.objective)
    swarm = read_runs(args.runs, args.format, fidelity=None if args.fidelity is None else Fidelity.parse(args.fidelity),
                      params=args.params, columns=WandbColumns.parse(args.map), metrics=objective_metrics(objective),
                      domains=None if args.domains is None else [d.strip() for d in args.domains.split(",")],
                      runs=args.select)
    if objective is None and swarm.format == "long":
        from bomix.export import read_sidecar

        objective = read_sidecar(args.runs).get("objective")  # a `bomix export` keeps its campaign's objective
    return suggest(swarm, args.method, options=parse_options(args.option), seed=args.seed, objective=objective,
                   target=args.target, target_params=args.target_params, next_runs=args.next, budget=args.budget)
