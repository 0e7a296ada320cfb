"""The ``bomix`` console command: dispatch to one module per command family.

``run`` (Hydra) :mod:`bomix.cli.run`, ``simulator`` :mod:`bomix.cli.simulator`, ``data`` :mod:`bomix.cli.data`,
``export`` :mod:`bomix.cli.export`, ``suggest`` :mod:`bomix.cli.suggest`, ``bench`` :mod:`bomix.bench.cli`,
``ask`` / ``tell`` / ``show`` :mod:`bomix.study.cli`, ``report`` / ``dashboard`` :mod:`bomix.cli.report`. Each
parses its arguments and prints; the library functions it calls stay in their feature modules.
"""

from __future__ import annotations

import importlib
import os
import sys

from bomix.errors import BomixError

USAGE = """usage: bomix COMMAND [ARGS...]

commands:
  run KEY=VALUE ...            run or resume a campaign (Hydra app over conf/; -m for a sweep; --help);
                               ends with its summary: for you on stderr, one JSON line on stdout
  bench DIR... [--out OUT]     aggregate campaign directories: regret vs cost, speedups, plots
  simulator build TABLE --out DIR   build a replay simulator from logged runs
  data prepare|demo ...        tokenise per-domain text into shards; build the offline demo corpus
  export DIR --out runs.csv    a campaign's runs in the logged-run format (for `simulator build`)
  suggest RUNS [--method M]    logged runs in, mixture out: a method's recommendation +- sd, its trust and the
                               next runs worth buying (long, RegMix, Olmix or W&B files; --json)
  reference DIR...             mean final metrics of runs of one reference mixture: the reference: block of a
                               normalised objective or of relative outcome constraints
  ask DIR                      the next run of an ask/tell study, as JSON (creation options: bomix ask -h)
  tell DIR RUN_ID --value V    record a study run's result (or --curve FILE, --metrics JSON)
  show DIR [--json]            a campaign's or study's summary (top weights, regret vs uniform weights or
                               prediction +- sd, budget, stop reason) and its latest runs
  report DIR... --out FILE     one self-contained HTML page of campaigns: summary, plots, comparison
                               (needs pip install 'bomix[report]')
  dashboard DIR... [--port N]  serve that page locally, refreshed while campaigns run

options:
  --version                    print bomix's version
  -h, --help                   this text; `bomix COMMAND --help` for a command's own
"""

#: subcommand -> (module, function taking argv and returning an exit code)
SUBCOMMANDS = {
    "bench": ("bomix.bench.cli", "cli_main"),
    "simulator": ("bomix.cli.simulator", "cli_main"),
    "data": ("bomix.cli.data", "cli_main"),
    "export": ("bomix.cli.export", "cli_main"),
    "suggest": ("bomix.cli.suggest", "cli_main"),
    "reference": ("bomix.cli.reference", "cli_main"),
    "ask": ("bomix.study.cli", "ask_main"),
    "tell": ("bomix.study.cli", "tell_main"),
    "show": ("bomix.study.cli", "show_main"),
    "report": ("bomix.cli.report", "report_main"),
    "dashboard": ("bomix.cli.report", "dashboard_main"),
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point; BomixError becomes one line on stderr and exit code 2."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe (`bomix --help | head`) shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush into a closed pipe prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (e.g. captured)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] in ("--version", "-V", "version"):
        import bomix

        print(f"bomix {bomix.__version__}")
        return 0
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "run":
            from bomix.cli.run import run

            return run(rest)
        if cmd not in SUBCOMMANDS:
            raise BomixError(f"unknown command {cmd!r}: use one of run, {', '.join(SUBCOMMANDS)}")
        module, func = SUBCOMMANDS[cmd]
        try:
            fn = getattr(importlib.import_module(module), func)
        except ModuleNotFoundError as exc:
            raise BomixError(f"`bomix {cmd}` is unavailable here ({exc}); install the matching extra") from None
        return int(fn(rest) or 0)
    except BomixError as exc:
        print(f"bomix: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"bomix: error: file not found: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bomix: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130

