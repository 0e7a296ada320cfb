"""A component's typed options, read from its constructor: the one home of every default.

A buildable component (a policy, backend, executor, logger) states its options as the typed keyword
arguments of its constructor; a group of related options is a frozen dataclass whose *instance* is the
default (``gp: GPConfig = MFBO_GP``), so a subclass's preset states only what differs. :func:`schema`
turns that signature into a dataclass that OmegaConf validates: Hydra merges the option's YAML and the
command line over it (:mod:`hydra_plugins.bomix_defaults`), and :func:`typed_options` checks a plain
mapping (a Study's stored policy, a benchmark's variant) the same way, so an unknown key or a wrong
type fails in one line wherever it comes from.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import importlib
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from bomix.errors import BomixError

#: problem options have no ``_target_``: they fill this dataclass (plus ``name`` and the ``trainer`` block)
PROBLEM_TARGET = "bomix.campaign.ProblemConfig"
#: keys of a problem option that are not :data:`PROBLEM_TARGET` fields: its name, the settings of
#: ``backend=trainer`` that the trainer's YAML reads with ``${bomix.from_problem:trainer.KEY}``, and those of
#: ``backend=synthetic`` its YAML reads with ``${oc.select:problem.synthetic.KEY,null}`` (``tasks``)
PROBLEM_EXTRA = {"name": Optional[str], "trainer": Any, "synthetic": Any}
_PRIMITIVE = (int, float, bool, str)


def import_target(target: str) -> Any:
    """The object a dotted path names (``bomix.policies.bo.MFBOPolicy``)."""
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _omegaconf_type(tp: Any) -> Any:
    """``tp`` as a type OmegaConf validates, or ``Any`` where it cannot (a union of two value types, a mapping)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in _PRIMITIVE or tp is Any or (inspect.isclass(tp) and dataclasses.is_dataclass(tp)):
        return tp
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner = _omegaconf_type(rest[0])
            return Any if inner is Any else Optional[inner]
        return Any
    if origin in (list, tuple, collections.abc.Sequence):
        inner = _omegaconf_type(args[0]) if args else Any
        return list[inner] if inner in _PRIMITIVE else list[Any]
    # mappings stay untyped: OmegaConf 2.3 cannot merge a mapping into a null Optional[Dict] (an
    # AttributeError inside OmegaConf.update); their values are still checked as plain data
    return Any


def _plain_default(value: Any) -> bool:
    if value is None or isinstance(value, _PRIMITIVE):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain_default(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain_default(v) for k, v in value.items())
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _field(name: str, tp: Any, default: Any) -> tuple[str, Any, Any]:
    if default is inspect.Parameter.empty:  # required; a YAML may still state it as null, to be overridden
        return name, (tp if tp is Any else Optional[tp]), dataclasses.field(default=MISSING)
    if isinstance(default, tuple):
        default = list(default)
    if isinstance(default, (list, dict)) or (dataclasses.is_dataclass(default) and not isinstance(default, type)):
        return name, tp, dataclasses.field(default_factory=functools.partial(_copy, default))
    return name, tp, dataclasses.field(default=default)


def _copy(value: Any) -> Any:
    return dataclasses.replace(value) if dataclasses.is_dataclass(value) else type(value)(value)


def _signature_fields(cls: type) -> list[tuple[str, Any, Any]]:
    """``(name, type, default)`` of ``cls``'s constructor keywords, following ``**kw`` up the MRO (a
    subclass's default wins). Arguments whose default is not a config value (an object) are left out:
    only Python callers pass them."""
    out: dict[str, tuple[Any, Any]] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            hints = typing.get_type_hints(init)
        except (NameError, TypeError):  # an annotation that cannot be resolved: the value goes untyped
            hints = {}
        params = list(inspect.signature(init).parameters.values())
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) or p.name == "self" or p.name in out:
                continue
            if p.default is not p.empty and not _plain_default(p.default):
                continue
            out[p.name] = (_omegaconf_type(hints.get(p.name, Any)), p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return [_field(n, tp, d) for n, (tp, d) in out.items()]


def _checked(fields: list[tuple[str, Any, Any]], name: str) -> type:
    """The schema dataclass; a field whose type OmegaConf refuses goes untyped (``Any``)."""
    ok = []
    for f in fields:
        try:
            OmegaConf.structured(dataclasses.make_dataclass("_Probe", [f]))
            ok.append(f)
        except (OmegaConfBaseException, ValueError, TypeError):
            ok.append((f[0], Any, f[2]))
    return dataclasses.make_dataclass(name, ok)


@functools.lru_cache(maxsize=None)
def schema(target: str) -> type:
    """The typed options of a component (or of :data:`PROBLEM_TARGET`) as a dataclass.

    Raises:
        ImportError, AttributeError: the target's module cannot be imported (an extra not installed).
    """
    obj = import_target(target)
    if dataclasses.is_dataclass(obj):
        hints = typing.get_type_hints(obj)
        fields = [_field(f.name, _omegaconf_type(hints.get(f.name, Any)),
                         f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty)
                  for f in dataclasses.fields(obj)]
        if target == PROBLEM_TARGET:
            fields += [_field(k, tp, None) for k, tp in PROBLEM_EXTRA.items()]
        return _checked(fields, f"{obj.__name__}Options")
    return _checked(_signature_fields(obj), f"{obj.__name__}Options")


def _writable(node: DictConfig) -> None:
    """Frozen dataclasses become read-only nodes; options must stay overridable (a YAML preset, a CLI key)."""
    OmegaConf.set_readonly(node, False)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _writable(child)


def defaults_node(target: str, extra: Mapping[str, Any] | None = None) -> DictConfig:
    """The typed node of a component's options with their defaults, plus ``extra`` untyped keys
    (``_target_``, ``name``): what Hydra merges the option's YAML and the overrides into."""
    node = OmegaConf.structured(schema(target))
    _writable(node)
    if extra:
        with open_dict(node):
            for k, v in extra.items():
                node[k] = v
    return node


def defaults(target: str) -> dict[str, Any]:
    """A component's options with their defaults as plain values (nested groups as mappings)."""
    return OmegaConf.to_container(defaults_node(target), throw_on_missing=False)


def _problem(exc: OmegaConfBaseException, target: str) -> str:
    """One line saying which option is wrong and what it takes."""
    key = getattr(exc, "full_key", None) or "?"
    if isinstance(exc, ConfigKeyError):
        node = schema(target)
        for part in key.split(".")[:-1]:  # the group the unknown key was put in
            tp = {f.name: f.type for f in dataclasses.fields(node)}.get(part)
            node = tp if inspect.isclass(tp) and dataclasses.is_dataclass(tp) else None
            if node is None:
                break
        valid = ", ".join(f.name for f in dataclasses.fields(node)) if node else "?"
        return f"unknown option {key} (valid here: {valid})"
    return f"{key}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def typed_options(target: str, options: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``options`` checked against the component's schema and completed with its defaults: the keyword
    arguments to build it with (option groups as their dataclass instances; required arguments that are
    still unset are left out, for the constructor to name).

    Raises:
        BomixError: one line naming the unknown key or the wrong value and what the option takes.
    """
    node = defaults_node(target)
    try:
        merged = OmegaConf.merge(node, dict(options))
    except OmegaConfBaseException as exc:
        raise BomixError(f"bad {what} option: {_problem(exc, target)}") from None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(schema(target)):
        if OmegaConf.is_missing(merged, f.name):
            continue
        value = merged[f.name]
        if isinstance(value, DictConfig) and OmegaConf.get_type(value) not in (dict, None):
            out[f.name] = OmegaConf.to_object(value)
        else:
            out[f.name] = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    return out
