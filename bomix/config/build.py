"""Building components from configs: only registered classes, only plain typed options.

``conf/<group>/<option>.yaml`` registers a component (its ``_target_``) and states only what differs
from the constructor's defaults; :func:`instantiate` builds it from a group node, checking the options
against the typed schema read from the constructor (:mod:`bomix.config.schema`). Nothing else is
imported or called: a store or an override never runs code.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bomix.config.schema import PROBLEM_TARGET, import_target, typed_options
from bomix.errors import BomixError

#: Hydra's instantiation keys: a config that bomix builds may carry ``_target_`` only at the top of a
#: group node (and only a registered component's); these keys anywhere else are refused.
RESERVED_KEYS = frozenset({"_target_", "_args_", "_recursive_", "_convert_", "_partial_"})
#: env var naming extra buildable targets of your own: exact class paths or package prefixes ending in "."
ALLOW_ENV = "BOMIX_ALLOW_TARGETS"
#: keys of a group node that are not constructor arguments
META_KEYS = ("name",)
#: the config groups whose options build one component each
GROUPS = ("problem", "backend", "policy", "executor")

@functools.lru_cache(maxsize=None)
def _registered(group: str) -> tuple[tuple[str, str], ...]:
    import yaml

    from bomix.paths import conf_dir

    out = []
    for path in sorted((conf_dir() / group).glob("*.yaml")):
        try:
            node = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue  # Hydra reports the file itself when it is chosen
        if isinstance(node, dict) and isinstance(node.get("_target_"), str):
            out.append((path.stem, node["_target_"]))
    return tuple(out)


def registered(group: str) -> dict[str, str]:
    """The components of a config group: ``conf/<group>/<option>.yaml`` option name -> its ``_target_``.

    These (plus what :data:`ALLOW_ENV` names) are the only classes :func:`instantiate` builds."""
    return dict(_registered(group))


def allowed(target: str, group: str) -> bool:
    """Whether ``target`` may be built as a ``group`` component (registered, or named by :data:`ALLOW_ENV`)."""
    if target in registered(group).values():
        return True
    extra = [p for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip()]
    return any(target == p.strip() or (p.strip().endswith(".") and target.startswith(p.strip())) for p in extra)


def check_data(value: Any, where: str) -> None:
    """Refuse anything in a config's options that is not plain data or that asks Hydra to build something.

    Options (and everything read back from a store) may hold only strings, numbers, booleans, None, lists
    and string-keyed mappings, and no key of :data:`RESERVED_KEYS` at any depth.

    Raises:
        BomixError: one line naming the key path.
    """
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise BomixError(f"{where} has a non-string key {k!r}: option names are strings")
            if k in RESERVED_KEYS:
                raise BomixError(f"{where}.{k} is refused: options are plain values, and bomix builds only "
                                 "registered components (choose one by name, e.g. policy=random)")
            check_data(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_data(v, f"{where}[{i}]")
    elif not isinstance(value, (type(None), bool, int, float, str)):
        raise BomixError(f"{where} holds a {type(value).__name__}: options are plain values (numbers, strings, "
                         "booleans, lists, mappings)")


def instantiate(node: DictConfig | Mapping | None, what: str, **kwargs: Any) -> Any:
    """Build a config group node: a registered ``_target_`` class called with the node's plain options.

    Only the classes :func:`registered` lists for the group ``what`` (plus :data:`ALLOW_ENV`'s) are built,
    and the options must pass :func:`check_data` (no nested ``_target_``): nothing else is imported or
    called. ``name`` is dropped.

    Args:
        node: the group's config.
        what: the group name ("backend", "policy", "executor", "logger"), also used in error messages.
        kwargs: extra constructor arguments (from bomix itself, never from a config).

    Raises:
        BomixError: missing or unregistered ``_target_``, a reserved key among the options, unknown
            arguments, or the constructor's own error, its message kept.
    """
    if node is None:
        raise BomixError(f"no {what} configured: choose one with {what}=<name>")
    cfg = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    target = cfg.pop("_target_", None)
    if not target:
        raise BomixError(f"{what} config has no _target_: choose a registered {what} with {what}=<name>")
    if not isinstance(target, str) or not allowed(target, what):
        known = ", ".join(sorted(registered(what))) or "none"
        raise BomixError(f"{what} target {target!r} is not allowed: bomix builds only the registered {what} "
                         f"classes (choose by name: {known}); add your own class to {ALLOW_ENV} to permit it")
    for key in META_KEYS:
        cfg.pop(key, None)
    check_data(cfg, what)
    try:
        cls = import_target(target)
        options = typed_options(target, cfg, what)
    except (ImportError, AttributeError) as exc:
        raise BomixError(f"cannot build {what} {target}: {type(exc).__name__}: {exc}") from None
    try:
        return cls(**{**options, **kwargs})  # bomix's own arguments (a campaign folder) replace null keys
    except BomixError:
        raise
    except TypeError as exc:
        if "argument" in str(exc):
            raise BomixError(f"bad {what} argument for {target}: {exc}") from None
        raise BomixError(f"cannot build {what} {target}: TypeError: {' '.join(str(exc).split())}") from None
    except (ValueError, KeyError, ImportError, OSError) as exc:
        raise BomixError(f"cannot build {what} {target}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None


def group_target(group: str, node: Mapping) -> str | None:
    """The class a group option builds (problem options fill :data:`PROBLEM_TARGET`)."""
    return PROBLEM_TARGET if group == "problem" else node.get("_target_")
