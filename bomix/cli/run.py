"""``bomix run``: the Hydra app (:mod:`bomix.app`), with Hydra's composition errors turned into one line."""

from __future__ import annotations

import os
import sys

from bomix.cli import _one_line
from bomix.errors import BomixError


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
    from bomix.config import GROUPS

    # a component takes only its constructor's options; elsewhere a key of your own may be added
    hint = "" if parent.split(".")[0] in (*GROUPS, "logger") else f" (add a new one with +{key}=...)"
    return f"unknown key {leaf!r} in {where}: valid keys are {', '.join(map(str, keys))}{hint}"


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
