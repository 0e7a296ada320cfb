"""A BO policy's option groups (``gp``, ``search``): frozen dataclasses whose class default is the policy's preset,
changed from a mapping field by field (``MFBOPolicy(gp={"maxiter": 5})``) or given whole."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from bomix.errors import BomixError
from bomix.policies.base import Policy


def preset(cls: type, group: str) -> Any:
    """The default of ``cls``'s option group ``group``: the constructor default of the nearest class in the MRO
    that names it (a subclass's preset wins, as in the config schema; the others pass it on by ``**kw``)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        param = inspect.signature(init).parameters.get(group) if init is not None else None
        if param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            return param.default
    raise TypeError(f"{cls.__name__} has no option group {group!r}")


def option_group(policy: Policy, group: str, value: Any) -> Any:
    """A policy's option group ``group`` (a frozen dataclass) from ``value``: an instance of the group's class
    is used as given; a mapping holds changes applied onto the policy's preset (:func:`preset`) with
    :func:`dataclasses.replace`, so ``MFBOPolicy(gp={"maxiter": 5})`` keeps mfbo's other GP settings.

    Raises:
        BomixError: one line: an unknown key (with the valid ones), a value the group refuses, or neither an
            instance nor a mapping.
    """
    base = preset(type(policy), group)
    if isinstance(value, type(base)):
        return value
    name = getattr(policy, "name", type(policy).__name__)
    keys = [f.name for f in dataclasses.fields(base)]
    if not isinstance(value, Mapping):
        raise BomixError(f"{name}: {group} must be a {type(base).__name__} or a mapping of its fields "
                         f"({', '.join(keys)}), got {type(value).__name__}")
    unknown = [str(k) for k in value if k not in keys]
    if unknown:
        raise BomixError(f"{name}: unknown {group} key(s) {', '.join(unknown)}: valid keys are {', '.join(keys)}")
    hints = typing.get_type_hints(type(base))
    changes = {k: _as_field(hints[k], v) for k, v in value.items()}
    try:
        return dataclasses.replace(base, **changes)
    except (TypeError, ValueError) as exc:
        raise BomixError(f"{name}: {group}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None


def _as_field(tp: Any, v: Any) -> Any:
    """An int where a field takes a float (``1`` for ``law_shift_init``) becomes a float; all else as given."""
    floats = tp is float or (typing.get_origin(tp) in (typing.Union, types.UnionType) and float in typing.get_args(tp))
    return float(v) if floats and isinstance(v, int) and not isinstance(v, bool) else v
