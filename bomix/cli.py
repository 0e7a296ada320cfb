"""The ``bomix`` console command: ``run`` (Hydra), ``bench``, ``simulator``, ``data``, ``export``."""

from __future__ import annotations

import importlib
import os
import sys

from bomix.errors import BomixError

USAGE = """usage: bomix COMMAND [ARGS...]

commands:
  run KEY=VALUE ...            run or resume a campaign (Hydra app over conf/; -m for a sweep)
  bench DIR... [--out OUT]     aggregate campaign directories: regret vs cost, speedups, plots
  simulator build TABLE --out DIR   build a replay simulator from logged runs
  data prepare|demo ...        tokenise per-domain text into shards; build the offline demo corpus
  export DIR --out runs.csv    a campaign's runs in the logged-run format (for `simulator build`)
  ask DIR                      the next run of an ask/tell study, as JSON (creation options: bomix ask -h)
  tell DIR RUN_ID --value V    record a study run's result (or --curve FILE, --metrics JSON)
  show DIR                     status, budget used, recommendation +- sd and the latest runs
"""

#: subcommand -> (module, function taking argv and returning an exit code)
SUBCOMMANDS = {
    "bench": ("bomix.bench.cli", "cli_main"),
    "simulator": ("bomix.backends.replay.build", "cli_main"),
    "data": ("bomix.backends.trainer.data", "cli_main"),
    "export": ("bomix.export", "cli_main"),
    "ask": ("bomix.study.cli", "ask_main"),
    "tell": ("bomix.study.cli", "tell_main"),
    "show": ("bomix.study.cli", "show_main"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; BomixError becomes one line on stderr and exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "run":
            from bomix.app import hydra_main

            sys.argv = [f"{sys.argv[0]} run"] + rest
            hydra_main()
            return 0
        if cmd not in SUBCOMMANDS:
            raise BomixError(f"unknown command {cmd!r}: use one of run, {', '.join(SUBCOMMANDS)}")
        module, func = SUBCOMMANDS[cmd]
        try:
            fn = getattr(importlib.import_module(module), func)
        except ModuleNotFoundError as exc:
            raise BomixError(f"`bomix {cmd}` is unavailable here ({exc}); install the matching extra") from None
        return int(fn(rest) or 0)
    except BomixError as exc:
        print(f"bomix: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"bomix: error: file not found: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bomix: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
