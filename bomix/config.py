"""Building objects from Hydra configs. Every ``instantiate`` goes through :func:`instantiate`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bomix.errors import BomixError

#: ``_target_`` prefixes allowed by default; extend with env BOMIX_ALLOW_TARGETS="pkg.,other.mod."
ALLOWED_PREFIXES = ("bomix.",)
META_KEYS = ("name",)


def _allowed(target: str) -> bool:
    extra = tuple(p for p in os.environ.get("BOMIX_ALLOW_TARGETS", "").split(",") if p)
    return target.startswith(ALLOWED_PREFIXES + extra)


def instantiate(node: DictConfig | Mapping | None, what: str, **kwargs: Any) -> Any:
    """Instantiate a config group node (``_target_`` + kwargs; ``name`` is dropped).

    Args:
        node: the group's config.
        what: the group name for error messages ("backend", "policy", ...).
        kwargs: extra constructor arguments.

    Raises:
        BomixError: missing or disallowed ``_target_``, unknown arguments, or the constructor's own
            BomixError (unwrapped from Hydra's InstantiationException).
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    if node is None:
        raise BomixError(f"no {what} configured: choose one with {what}=<name>")
    cfg = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    target = cfg.get("_target_")
    if not target:
        raise BomixError(f"{what} config has no _target_: add `_target_: bomix.<module>.<Class>`")
    if not _allowed(target):
        raise BomixError(f"{what} target {target!r} is not allowed: set BOMIX_ALLOW_TARGETS to permit it")
    for key in META_KEYS:
        cfg.pop(key, None)
    try:
        return hydra_instantiate(cfg, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, BomixError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, BomixError):
            raise cause from None
        if isinstance(cause, TypeError):
            raise BomixError(f"bad {what} argument for {target}: {cause}") from None
        msg = str(exc).splitlines()[0]
        raise BomixError(f"cannot build {what} {target}: {msg}") from None


def fingerprint(cfg: DictConfig | Mapping) -> dict:
    """The part of a run config that defines a campaign's results (checked on resume).

    Leaves out what may change between a run and its resumption: the budget (extending a campaign is
    allowed), where runs execute, progress display, stop conditions and ``force``.
    """
    d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    for key in ("budget", "executor", "progress", "force", "stop_regret", "max_wall_time", "max_runs", "hydra",
                "logger"):
        d.pop(key, None)
    return d
