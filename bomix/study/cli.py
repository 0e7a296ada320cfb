"""``bomix ask``, ``bomix tell`` and ``bomix show``: the ask/tell study from a shell script."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from bomix.errors import BomixError


def _ladder(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        name, sep, params = part.partition("=")
        try:
            out[name.strip()] = float(params)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise BomixError(f"--ladder {text!r}: give NAME=PARAMS pairs, e.g. --ladder 20M=2e7,1B=1e9")
    return out


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BomixError(f"{what} {text!r}: give comma-separated integers, e.g. 1000,4000") from None


def _json_arg(text: str, what: str):
    """JSON; for --objective a plain metric name too (text that does not start like JSON: ``{`` or ``[``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if what == "--objective" and not text.lstrip().startswith(("{", "[")):
            return text
        return _fail(f"{what} is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}")


def _names(text: str, what: str) -> list[str]:
    """Comma-separated names, none empty."""
    names = [x.strip() for x in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise BomixError(f"{what} {text!r} has an empty name: give comma-separated names, e.g. {what} code,web")
    return names


def _count(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return n


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return x


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line BomixErrors (the CLI prints them and exits 2)."""

    def error(self, message: str):
        raise BomixError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _fail(msg: str):
    raise BomixError(msg)


def ask_main(argv: list[str]) -> int:
    """``bomix ask DIR [--no-wait] [--timeout S]`` (+ creation options): print the next run as JSON."""
    from bomix.study import Study

    ap = _Parser(
        prog="bomix ask", description="print the next run of a study as JSON ({\"run_id\": null, ...} when "
        "there is none); with --domains/--ladder/--steps/--objective/--budget it creates the study first "
        "(or opens it if an equal one exists)")
    ap.add_argument("directory", help="the study directory")
    ap.add_argument("--domains", help="comma-separated training domains (creates the study)")
    ap.add_argument("--ladder", help="model scales NAME=PARAMS,... e.g. 20M=2e7,1B=1e9")
    ap.add_argument("--steps", help="step counts a run may ask for, e.g. 1000,4000 (the largest is the target's)")
    ap.add_argument("--objective", help="metric name, or a JSON objective like '{\"maximize\": \"acc\"}'")
    ap.add_argument("--constraints", help="outcome constraints as JSON (creates the study), e.g. "
                    "'[{\"metric\": \"acc\", \"min\": 0.4}]' (see bomix/constraints.py)")
    ap.add_argument("--objectives", help="a trade-off of 2-4 named objectives as JSON (creates the study), e.g. "
                    "'[{\"name\": \"code\", \"maximize\": \"code_acc\"}, {\"name\": \"web\", \"metric\": "
                    "\"web_loss\"}]' (see bomix/tradeoff.py)")
    ap.add_argument("--preference", help="objective name -> weight as JSON, which Pareto member to recommend "
                    "(creates the study), e.g. '{\"code\": 0.7, \"web\": 0.3}'")
    ap.add_argument("--budget", type=float, help="budget in target-run equivalents (raises an existing study's)")
    ap.add_argument("--policy", default=None, help="policy name of conf/policy (default mfbo); an existing "
                    "study keeps its own: a different one is refused")
    ap.add_argument("--seed", type=_count, default=None, help="study seed, an integer >= 0 (default 0); an "
                    "existing study keeps its own: a different one is refused")
    ap.add_argument("--no-wait", action="store_true", help="return at once while the policy waits for pending runs")
    ap.add_argument("--timeout", type=_seconds, default=None, help="stop waiting after this many seconds")
    args = ap.parse_args(argv)
    creating = [args.domains, args.ladder, args.steps, args.objective]
    creation = {"constraints": args.constraints, "objectives": args.objectives, "preference": args.preference}
    if any(x is not None for x in creating):
        if not all(x is not None for x in creating) or args.budget is None:
            raise BomixError("to create a study give all of --domains, --ladder, --steps, --objective and --budget")
        study = Study.create(args.directory, domains=_names(args.domains, "--domains"),
                             ladder=_ladder(args.ladder), steps=_ints(args.steps, "--steps"),
                             objective=_json_arg(args.objective, "--objective"), budget=args.budget,
                             policy=args.policy or "mfbo", seed=0 if args.seed is None else args.seed,
                             exist_ok=True, **{k: _json_arg(v, f"--{k}") for k, v in creation.items() if v is not None})
    else:
        given = [f"--{k}" for k, v in creation.items() if v is not None]
        if given:
            raise BomixError(f"{', '.join(given)}: creation options: give them with --domains, --ladder, --steps, "
                             "--objective and --budget (an existing study keeps its own)")
        study = Study.load(args.directory, budget=args.budget, policy=args.policy, seed=args.seed)
    with study:
        trial = study.ask(wait=not args.no_wait, timeout=args.timeout)
        if trial is not None:
            print(json.dumps(trial.to_dict()))
        else:
            h = study.history()
            status = "wait" if h.pending and h.budget - h.spent > 1e-9 else "done"
            print(json.dumps({"run_id": None, "status": status, "pending": len(h.pending)}))
    return 0


def tell_main(argv: list[str]) -> int:
    """``bomix tell DIR RUN_ID --value X | --metrics JSON | --curve FILE [--status S --error MSG]``."""
    from bomix.study import Study
    from bomix.study.curve_input import read_curve_file

    ap = _Parser(prog="bomix tell", description="record the outcome of a run; prints the new "
                                 "recommendation as JSON")
    ap.add_argument("directory", help="the study directory")
    ap.add_argument("run_id", help="the run_id that `bomix ask` printed")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--value", type=float, help="the objective's metric at the run's last step")
    g.add_argument("--metrics", help="JSON metric -> value at the run's last step")
    g.add_argument("--curve", help="a .csv (step + one column per metric) or .json ({steps, metrics}) curve")
    ap.add_argument("--status", default="ok", choices=["ok", "failed", "diverged"], help="run status (default ok)")
    ap.add_argument("--error", default=None, help="why the run failed or diverged")
    ap.add_argument("--wall-time", type=_seconds, default=0.0, help="seconds the run took (a number >= 0)")
    args = ap.parse_args(argv)
    with Study.load(args.directory) as study:
        curve = read_curve_file(args.curve, study.problem.objective.metrics) if args.curve else None
        metrics = _json_arg(args.metrics, "--metrics") if args.metrics else None
        if metrics is not None and not isinstance(metrics, dict):
            raise BomixError('--metrics needs a JSON object, e.g. \'{"loss": 2.31}\'')
        rec = study.tell(args.run_id, args.value, curve=curve, metrics=metrics, status=args.status,
                         error=args.error, wall_time=args.wall_time)
    print(json.dumps(rec))
    return 0


def show_main(argv: list[str]) -> int:
    """``bomix show DIR [--json] [--runs N]``: status, budget, recommendation +- sd and the latest runs."""
    from bomix.study.show import format_report, report

    ap = _Parser(prog="bomix show", description="the state of a study or campaign directory")
    ap.add_argument("directory", help="a study or campaign directory")
    ap.add_argument("--runs", type=_count, default=10, help="how many of the latest runs to list (default 10)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = ap.parse_args(argv)
    rep = report(Path(args.directory), n_runs=args.runs)
    print(json.dumps(rep, indent=2) if args.json else format_report(rep))
    return 0
