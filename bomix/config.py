"""Building objects from Hydra configs, their defaults, and which keys define a campaign's results.

Convention (one home for every default): a component's defaults are the typed keyword defaults of its
constructor (or the fields of its dataclass). :func:`register_defaults` reads them and registers one
node per group option (``bomix_defaults/<group>/<option>``) that ``conf/config.yaml`` merges *under*
the option's YAML, so a YAML file states only ``_target_``, ``name`` and what differs, while every
constructor argument is still overridable on the command line (``policy.threshold=2``) and shown by
``bomix run --cfg job``. Every ``instantiate`` goes through :func:`instantiate`.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

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
#: problem options have no ``_target_``: they fill this dataclass (plus ``name`` and ``trainer``)
PROBLEM_TARGET = "bomix.campaign.ProblemConfig"
#: the ConfigStore group under which :func:`register_defaults` puts the Python defaults
DEFAULTS_GROUP = "bomix_defaults"

#: Keys (dotted prefixes) that do NOT change a campaign's results, so changing them between a run
#: and its resumption is allowed. Everything else (seed, problem, backend, policy, ...) defines the
#: campaign, and a resume with another value is refused (naming the keys) unless ``force=true``.
#:   budget              raising it extends the campaign (below what was spent is refused)
#:   max_runs, stop_regret, max_wall_time   stop conditions: where the campaign stops, not its runs
#:   batch_size          how many runs are in flight: it changes which runs are asked NEXT, never the
#:                       meaning of the ones already made (the store records every spec before it is
#:                       dispatched); with batch_size > 1 completion order is not reproducible anyway
#:   executor            where runs execute (inline, processes, Slurm, Ray)
#:   progress, log_level, force, hydra      display and control
#:   logger              where progress is logged (TensorBoard, W&B), never what a run computes
#:   backend.delay       the synthetic backend's artificial sleep per run
#:   backend.checkpoint_dir   where trainer checkpoints live (follows the campaign directory)
OPERATIONAL_KEYS = (
    "budget", "max_runs", "stop_regret", "max_wall_time", "batch_size", "executor", "progress",
    "log_level", "force", "hydra", "backend.delay", "backend.checkpoint_dir", "logger",
)


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


def _allowed(target: str, group: str) -> bool:
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
    if not isinstance(target, str) or not _allowed(target, what):
        known = ", ".join(sorted(registered(what))) or "none"
        raise BomixError(f"{what} target {target!r} is not allowed: bomix builds only the registered {what} "
                         f"classes (choose by name: {known}); add your own class to {ALLOW_ENV} to permit it")
    for key in META_KEYS:
        cfg.pop(key, None)
    check_data(cfg, what)
    try:
        cls = _import_target(target)
    except (ImportError, AttributeError) as exc:
        raise BomixError(f"cannot build {what} {target}: {type(exc).__name__}: {exc}") from None
    try:
        return cls(**{**cfg, **kwargs})  # bomix's own arguments (a campaign folder) replace null keys
    except BomixError:
        raise
    except TypeError as exc:
        if "argument" in str(exc):
            raise BomixError(f"bad {what} argument for {target}: {exc}") from None
        raise BomixError(f"cannot build {what} {target}: TypeError: {' '.join(str(exc).split())}") from None
    except (ValueError, KeyError, ImportError, OSError) as exc:
        raise BomixError(f"cannot build {what} {target}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None


# ----- defaults ------------------------------------------------------------------------------------
_PLAIN = (type(None), bool, int, float, str)


def _plain_value(v: Any) -> bool:
    if isinstance(v, _PLAIN):
        return not (isinstance(v, float) and not math.isfinite(v))
    if isinstance(v, (list, tuple)):
        return all(_plain_value(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain_value(x) for k, x in v.items())
    return False


def _import_target(target: str) -> Any:
    module, _, name = target.rpartition(".")
    return getattr(importlib.import_module(module), name)


def signature_defaults(target: str) -> dict[str, Any]:
    """Keyword defaults of ``target``'s constructor, following ``**kwargs`` up the class hierarchy.

    A subclass's own default wins over its base's. Arguments without a default, ``*args``/``**kw``
    and defaults that are not plain config values (numbers, strings, lists, dicts, None) are left out.
    This imports the target's module; :func:`component_defaults` avoids that when it can.
    """
    import dataclasses

    obj = _import_target(target)
    out: dict[str, Any] = {}
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.default is not dataclasses.MISSING and _plain_value(f.default):
                out[f.name] = f.default
        return out
    for cls in (obj.__mro__ if inspect.isclass(obj) else [obj]):
        init = cls.__dict__.get("__init__") if inspect.isclass(obj) else obj
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "self" or p.default is p.empty:
                continue
            if p.name not in out and _plain_value(p.default):
                out[p.name] = list(p.default) if isinstance(p.default, tuple) else p.default
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return out


class _NotLiteral(Exception):
    """A default that the static reader cannot evaluate: import the module instead."""


_ARITH = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
          ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}


def _literal(node: ast.expr, imports: Mapping[str, str] | None = None, depth: int = 0) -> Any:
    """A default's value from source: literals, arithmetic on numbers (``2.0**19``) and a field of
    another bomix class (``TrainConfig.lr``); anything else cannot be read without importing."""
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        a, b = _literal(node.left, imports, depth), _literal(node.right, imports, depth)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            raise _NotLiteral
        if isinstance(node.op, ast.Pow) and abs(b) > 64:
            raise _NotLiteral
        return _ARITH[type(node.op)](a, b)
    if isinstance(node, (ast.Tuple, ast.List)):
        return [_literal(e, imports, depth) for e in node.elts]
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and imports
            and node.value.id in imports):
        fields = _static_defaults(imports[node.value.id], depth + 1)
        if node.attr not in fields:
            raise _NotLiteral
        return fields[node.attr]
    try:
        v = ast.literal_eval(node)
    except ValueError:
        raise _NotLiteral from None
    if not _plain_value(v):
        raise _NotLiteral
    return list(v) if isinstance(v, tuple) else v


def _source(module: str) -> Path:
    """The source file of a bomix module, found without importing anything."""
    import bomix

    base = Path(bomix.__file__).resolve().parent.joinpath(*module.split(".")[1:])
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    raise _NotLiteral


def _static_defaults(target: str, depth: int = 0) -> dict[str, Any]:
    """Read the defaults from the source without importing it (bomix modules only)."""
    module, _, name = target.rpartition(".")
    if depth > 8 or not (module == "bomix" or module.startswith("bomix.")):
        raise _NotLiteral
    tree = ast.parse(_source(module).read_text())
    imports: dict[str, str] = {}
    classes: dict[str, ast.ClassDef] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
            for a in stmt.names:
                imports[a.asname or a.name] = f"{stmt.module}.{a.name}"
        elif isinstance(stmt, ast.ClassDef):
            classes[stmt.name] = stmt
    cls = classes.get(name)
    if cls is None:
        if name in imports:  # re-exported from a package's __init__
            return _static_defaults(imports[name], depth + 1)
        raise _NotLiteral
    out: dict[str, Any] = {}
    if any((d.id if isinstance(d, ast.Name) else getattr(d, "attr", "")) == "dataclass"
           or (isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", "")) == "dataclass")
           for d in cls.decorator_list):
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                if isinstance(stmt.value, ast.Call):  # field(...)
                    raise _NotLiteral
                out[stmt.target.id] = _literal(stmt.value, imports, depth)
        return out
    init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
    if init is not None:
        a = init.args
        pos = a.posonlyargs + a.args
        for arg, default in zip(pos[len(pos) - len(a.defaults):], a.defaults):
            out[arg.arg] = _literal(default, imports, depth)
        for arg, default in zip(a.kwonlyargs, a.kw_defaults):
            if default is not None:
                out[arg.arg] = _literal(default, imports, depth)
        if a.kwarg is None:
            return out
    for base in cls.bases:  # no __init__, or **kw: the first base with an __init__ supplies the rest
        bname = base.id if isinstance(base, ast.Name) else None
        if bname is None:
            raise _NotLiteral
        if bname in classes:
            inherited = _static_defaults(f"{module}.{bname}", depth + 1)
        elif bname in imports:
            if not imports[bname].startswith("bomix"):
                continue  # e.g. ABC
            inherited = _static_defaults(imports[bname], depth + 1)
        else:
            continue  # builtins (object)
        for k, v in inherited.items():
            out.setdefault(k, v)
        break
    return out


@functools.lru_cache(maxsize=None)
def _component_defaults(target: str) -> tuple[tuple[str, Any], ...]:
    try:
        d = _static_defaults(target)
    except (_NotLiteral, SyntaxError, OSError):
        d = signature_defaults(target)
    return tuple(d.items())


def component_defaults(target: str) -> dict[str, Any]:
    """The Python defaults of a config target (read statically when possible: no heavy imports)."""
    return {k: (v.copy() if isinstance(v, (list, dict)) else v) for k, v in _component_defaults(target)}


def group_target(group: str, node: Mapping) -> str | None:
    """The class a group option builds (problem options fill :data:`PROBLEM_TARGET`)."""
    return PROBLEM_TARGET if group == "problem" else node.get("_target_")


def register_defaults(conf_dir: str | Path) -> None:
    """Register each group option's Python defaults as ``bomix_defaults/<group>/<option>``.

    ``conf/config.yaml`` merges them before the option's own YAML (``optional`` in its defaults list),
    so the YAML only states what differs. Options whose target cannot be read are skipped (their
    YAML then has to state every key it needs overridable).
    """
    import yaml
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for group in GROUPS:
        for path in sorted(Path(conf_dir, group).glob("*.yaml")):
            try:
                node = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError:
                continue  # Hydra reports the file itself
            target = group_target(group, node) if isinstance(node, dict) else None
            if not target or (group != "problem" and not _allowed(str(target), group)):
                continue
            try:
                defaults = component_defaults(str(target))
            except (ImportError, AttributeError):
                continue  # an optional extra that is not installed: instantiate says so
            cs.store(group=f"{DEFAULTS_GROUP}/{group}", name=path.stem, node=defaults)


def _from_problem(path: str, *, _parent_: Any) -> Any:
    """``${bomix.from_problem:trainer.lr}``: the problem's setting if it has one, else the default of
    the node's own ``_target_`` for the last key (here TrainerBackend's ``lr``)."""
    root = _parent_._get_root()
    value = OmegaConf.select(root, f"problem.{path}", default=None)
    if value is not None:
        return value
    target, group = _parent_.get("_target_"), _parent_._key()
    if not target or not _allowed(str(target), str(group)):  # never import a target nobody registered
        return None
    return component_defaults(str(target)).get(path.rpartition(".")[2])


def register_resolvers() -> None:
    """OmegaConf resolvers used by conf/ (idempotent)."""
    if not OmegaConf.has_resolver("bomix.from_problem"):
        OmegaConf.register_new_resolver("bomix.from_problem", _from_problem)
    if not OmegaConf.has_resolver("bomix.operational_keys"):  # sweep directory names leave these out
        OmegaConf.register_new_resolver(
            "bomix.operational_keys", lambda: [k for k in OPERATIONAL_KEYS if "." not in k and k != "hydra"])


# ----- what defines a campaign ----------------------------------------------------------------------
def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def _operational(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in OPERATIONAL_KEYS)


def fingerprint(cfg: DictConfig | Mapping) -> dict:
    """The part of a run config that defines a campaign's results (checked on resume).

    Leaves out :data:`OPERATIONAL_KEYS` (budget, stop conditions, batch size, executor, display, ...).
    """
    d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    flat = {k: v for k, v in _flatten(d).items() if not _operational(k)}
    out: dict = {}
    for key, v in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    return out


def normalized(x: Any) -> Any:
    """``x`` with every integer number as a float (``alpha=1`` and ``alpha: 1.0`` are one config)."""
    if isinstance(x, Mapping):
        return {k: normalized(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [normalized(v) for v in x]
    if isinstance(x, int) and not isinstance(x, bool):
        return float(x)
    return x


def config_diff(old: Mapping, new: Mapping, limit: int = 6) -> str:
    """``"seed: 0 -> 7, policy.alpha: 1.0 -> 2.0"``: the result-defining keys that differ."""
    a, b = _flatten(dict(old)), _flatten(dict(new))
    keys = sorted(k for k in set(a) | set(b)
                  if normalized(a.get(k, "<unset>")) != normalized(b.get(k, "<unset>")) and not _operational(k))
    parts = [f"{k}: {a.get(k, '<unset>')} -> {b.get(k, '<unset>')}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"... {len(keys) - limit} more")
    return ", ".join(parts)


register_resolvers()  # conf/ uses them; composing conf/ with Hydra's own compose() must find them
