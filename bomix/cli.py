"""The ``bomix`` console command: ``run`` (Hydra), ``bench``, ``simulator``, ``data``, ``export``."""

from __future__ import annotations

import importlib
import os
import sys

from bomix.errors import BomixError

USAGE = """usage: bomix COMMAND [ARGS...]

commands:
  run KEY=VALUE ...            run or resume a campaign (Hydra app over conf/; -m for a sweep; --help)
  bench DIR... [--out OUT]     aggregate campaign directories: regret vs cost, speedups, plots
  simulator build TABLE --out DIR   build a replay simulator from logged runs
  data prepare|demo ...        tokenise per-domain text into shards; build the offline demo corpus
  export DIR --out runs.csv    a campaign's runs in the logged-run format (for `simulator build`)
  ask DIR                      the next run of an ask/tell study, as JSON (creation options: bomix ask -h)
  tell DIR RUN_ID --value V    record a study run's result (or --curve FILE, --metrics JSON)
  show DIR                     status, budget used, recommendation +- sd and the latest runs

options:
  --version                    print bomix's version
  -h, --help                   this text; `bomix COMMAND --help` for a command's own
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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def hydra_error(exc: BaseException, overrides: list[str]) -> str:
    """One line for an error Hydra raised while composing the config (unknown option, key, bad syntax)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        if exc.options:
            return f"unknown {group or 'config'} {option!r}: choose one of {', '.join(exc.options)}"
        return f"config {exc.missing_cfg_file!r} not found"
    if isinstance(exc, OverrideParseException):
        return f"cannot parse override: {_one_line(str(exc).splitlines()[0])}"
    if isinstance(exc, ConfigCompositionException):
        msg = str(exc)
        if msg.startswith("Could not override '"):
            key = msg.split("'")[1]
            return unknown_key(key, overrides)
        cause = exc.__cause__
        first = _one_line(msg.splitlines()[0]) if msg else type(exc).__name__
        if cause is not None:
            first += f": {_one_line(str(cause).splitlines()[0])}"
        return first
    return _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def unknown_key(key: str, overrides: list[str]) -> str:
    """``unknown key policy.foo: policy mfbo takes alpha, beta, ...`` (valid keys from a re-compose)."""
    from bomix.app import compose

    parent, _, leaf = key.rpartition(".")
    rest = [o for o in overrides if not o.lstrip("~+").startswith(key + "=") and not o.startswith("-")]
    try:
        cfg = compose(rest)
    except Exception:  # noqa: BLE001 - only used to enrich the message; the original error is reported
        return f"unknown key {key!r}: check its spelling (`bomix run --help`)"
    from omegaconf import OmegaConf

    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not OmegaConf.is_dict(node):
        return f"unknown key {key!r}: {parent} is not a group of keys"
    keys = sorted(k for k in node.keys() if not str(k).startswith("_") and (parent or k != "hydra"))
    where = f"{parent} {node.get('name')}" if parent and node.get("name") else parent or "the top level"
    return f"unknown key {leaf!r} in {where}: valid keys are {', '.join(map(str, keys))} (add a new one with +{key}=...)"


def run(rest: list[str]) -> int:
    """``bomix run``: the Hydra app, with Hydra's composition errors turned into one line."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # errors reach us as exceptions, not Hydra's printout
    from bomix.app import hydra_main

    argv0 = sys.argv[0] if sys.argv else "bomix"
    sys.argv = [f"{argv0} run"] + rest
    try:
        hydra_main()
    except SystemExit as exc:  # the task's own one-line errors (exit 2), --help (exit 0)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, BomixError):
            cause = cause.__cause__
        if isinstance(cause, BomixError):
            raise cause from None
        raise BomixError(hydra_error(exc, [a for a in rest if "=" in a])) from None
    except OSError as exc:  # Hydra could not make the run/sweep directory (a file in the way, read-only)
        from bomix.app import run_directory_error

        msg = run_directory_error(exc, multirun=any(a in ("-m", "--multirun") for a in rest))
        if msg is None:
            raise
        raise BomixError(msg) from None
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
