"""Checks on every value read back from a store before anything uses it.

A store is data from outside: it may have been edited by hand or damaged. Each refusal is one
:class:`bomix.store.schema.StoreDamagedError` line naming the table, the column, the row and the fix
(:func:`refuse`); nothing read from a store is silently repaired or ignored.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bomix.config import RESERVED_KEYS
from bomix.errors import BomixError
from bomix.runs import is_name, short
from bomix.store.schema import RESTORE, StoreDamagedError


def refuse(path: Path, table: str, column: str, row: str, problem: str, fix: str = RESTORE) -> StoreDamagedError:
    """``store PATH: table T, column C, ROW: PROBLEM: FIX`` (one line)."""
    problem = " ".join(str(problem).split())
    return StoreDamagedError(f"store {path}: table {table}, column {column}, {row}: {problem}: {fix}")


def is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_finite(x: object) -> bool:
    return is_number(x) and math.isfinite(x)


# RESERVED_KEYS (bomix.config): keys that ask Hydra to build something. A store is data, so no JSON document
# read from it may hold one (except the recorded configs, ``meta.config`` / ``meta.full_config``, which are
# compared, never built).


def reserved_key(doc: Any, where: str = "") -> str | None:
    """The path of the first :data:`RESERVED_KEYS` key at any depth of ``doc`` (None: none)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in RESERVED_KEYS:
                return f"{where}.{k}" if where else str(k)
            found = reserved_key(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found = reserved_key(v, f"{where}[{i}]")
            if found:
                return found
    return None


def parse_json(path: Path, table: str, column: str, row: str, text: object, fix: str = RESTORE,
               builds: bool = False) -> Any:
    """``text`` parsed as JSON, else a refusal (not text, not JSON, or holding a Hydra key such as
    ``_target_``; ``builds``: a recorded config, where those keys are allowed)."""
    if not isinstance(text, str):
        raise refuse(path, table, column, row, f"is a {type(text).__name__}, not JSON text", fix)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(path, table, column, row, f"is not valid JSON ({exc.msg} at character {exc.pos}: "
                     f"{text[:40]!r})", fix) from None
    bad = None if builds else reserved_key(doc)
    if bad:
        raise refuse(path, table, column, row, f"holds the key {bad[:80]!r}, which would make Hydra build "
                     "something (a store is data, never code)", fix)
    return doc


# ----- meta ---------------------------------------------------------------------------------------
def _mapping(v: Any) -> str | None:
    return None if isinstance(v, dict) else f"is a JSON {type(v).__name__}, not an object"


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) else f"is {short(v, 40)}, not a string"


def _int(v: Any) -> str | None:
    return None if is_int(v) else f"is {short(v, 40)}, not an integer"


def _time(v: Any) -> str | None:
    return None if is_finite(v) else f"is {short(v, 40)}, not a time (a finite number)"


def _budget(v: Any) -> str | None:
    return None if is_finite(v) and v > 0 else f"is {short(v, 40)}, not a finite number > 0"


def _domains(v: Any) -> str | None:
    if isinstance(v, list) and v and all(is_name(d) for d in v) and len(set(v)) == len(v):
        return None
    return f"is {short(v, 60)}, not a list of distinct domain names"


def _objective(v: Any) -> str | None:
    if not isinstance(v, dict):
        return f"is {short(v, 40)}, not an objective (an object with 'weights', 'sign', 'name')"
    w = v.get("weights")
    if not (isinstance(w, dict) and w and all(is_name(k) and is_finite(x) and x >= 0 for k, x in w.items())
            and sum(w.values()) > 0):
        return "has no 'weights' mapping of metric name -> weight >= 0"
    if "sign" in v and not (is_finite(v["sign"]) and v["sign"] != 0):
        return f"has sign {short(v['sign'], 20)}, not a number (1 or -1)"
    if "name" in v and not isinstance(v["name"], str):
        return "has a name that is not a string"
    if "maximize" in v and not (isinstance(v["maximize"], list) and all(m in w for m in v["maximize"])):
        return "has 'maximize' that is not a list of its metrics"
    ref = v.get("reference")
    if ref is not None and not (isinstance(ref, dict) and set(ref) == set(w)
                                and all(is_finite(x) and x != 0 for x in ref.values())):
        return "has 'reference' that is not a mapping of each of its metrics -> a finite non-zero value"
    return None


def _space(v: Any) -> str | None:
    if not isinstance(v, dict):
        return f"is {short(v, 40)}, not a space description (an object)"
    scales = v.get("scales", [])
    if not (isinstance(scales, list) and all(isinstance(s, dict) and is_name(s.get("name"))
                                             and is_finite(s.get("params")) and s["params"] > 0 for s in scales)):
        return "has 'scales' that are not a list of {name, params > 0}"
    t = v.get("target")
    if t is not None and not (isinstance(t, dict) and is_name(t.get("scale")) and is_int(t.get("steps"))
                              and t["steps"] > 0):
        return "has a 'target' that is not {scale, steps}"
    tps = v.get("tokens_per_step")
    if tps is not None and not (is_finite(tps) and tps > 0):
        return f"has tokens_per_step {short(tps, 20)}, not a number > 0"
    if "domains" in v and _domains(v["domains"]) is not None:
        return "has 'domains' that are not a list of domain names"
    return None


def _optimum(v: Any) -> str | None:
    if (isinstance(v, dict) and isinstance(v.get("mixture"), list) and v["mixture"]
            and all(is_finite(x) for x in v["mixture"]) and is_finite(v.get("value"))):
        return None
    return "is not {mixture: [numbers], value: number}"


def _study(v: Any) -> str | None:
    if not isinstance(v, dict):
        return f"is {short(v, 40)}, not a study config (an object)"
    missing = [k for k in ("domains", "ladder", "steps", "objective") if k not in v]
    if missing:
        return f"lacks {missing}"
    if _domains(v["domains"]) is not None:
        return "has 'domains' that are not a list of domain names"
    if not (isinstance(v["ladder"], dict) and v["ladder"] and all(is_name(k) and is_finite(p) and p > 0
                                                                  for k, p in v["ladder"].items())):
        return "has a 'ladder' that is not a mapping of scale name -> parameter count"
    if not (isinstance(v["steps"], list) and v["steps"] and all(is_int(s) and s > 0 for s in v["steps"])):
        return "has 'steps' that are not a list of integers > 0"
    if "seed" in v and not is_int(v["seed"]):
        return "has a seed that is not an integer"
    return None


#: meta key -> check (None: fine, else what is wrong); a key not listed is only checked to be JSON
META_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "config": _mapping, "full_config": _mapping, "versions": _mapping, "study": _study,
    "config_hash": _string, "policy": _string, "backend": _string,
    "domains": _domains, "space": _space, "objective": _objective, "optimum": _optimum,
    "seed": _int, "created": _time, "budget": _budget,
}

#: how to repair one meta value when there is a better way than restoring the whole store
META_FIX = {
    "budget": "set it again (`bomix ask DIR --budget B` for a study, budget=B for a campaign), or " + RESTORE,
    "optimum": "delete that row (the campaign recomputes it: "
               "sqlite3 store.sqlite \"DELETE FROM meta WHERE key = 'optimum'\"), or " + RESTORE,
}


def meta_problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` (parsed JSON) as the meta value of ``key`` (None: nothing)."""
    check = META_CHECKS.get(key)
    return None if check is None else check(value)


#: what a meta key is (``Store.set_meta(**items)`` writes Python identifiers)
META_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: meta values that record a config (compared on resume, never built): Hydra keys are allowed in them
RECORDED_CONFIGS = frozenset({"config", "full_config"})


def meta_value(path: Path, key: str, text: object) -> Any:
    """The meta value of ``key`` parsed and checked (:data:`META_CHECKS`)."""
    if not isinstance(key, str) or not META_KEY_RE.fullmatch(key):
        raise refuse(path, "meta", "key", f"key {short(key, 40)}", "is not a meta key (an identifier)")
    fix = META_FIX.get(key, RESTORE)
    value = parse_json(path, "meta", "value", f"key {key!r}", text, fix, builds=key in RECORDED_CONFIGS)
    problem = meta_problem(key, value)
    if problem is not None:
        raise refuse(path, "meta", "value", f"key {key!r}", problem, fix)
    return value


# ----- recommendations ----------------------------------------------------------------------------
REC_COLUMNS = ("idx", "n_finished", "run_id", "budget_used", "mixture", "true_value", "regret", "created",
               "extrapolated", "pred_mean", "pred_sd", "fallback", "pred_feasible", "feasible")


def recommendation(path: Path, row: Sequence[Any], domains: Sequence[str] | None) -> dict:
    """One ``recommendations`` row (in :data:`REC_COLUMNS` order) checked; ``mixture`` parsed to a list,
    ``extrapolated``, ``fallback`` and ``feasible`` to bools (None: unknown, a row from before the column)."""
    from bomix.runs import validate_run_id
    from bomix.mixture import Mixture

    rec = dict(zip(REC_COLUMNS, row))
    where = f"row {rec['idx']!r}"

    def bad(column: str, problem: str) -> StoreDamagedError:
        return refuse(path, "recommendations", column, where, problem)

    if not is_int(rec["idx"]):
        raise bad("idx", "is not an integer")
    if not (is_int(rec["n_finished"]) and rec["n_finished"] >= 0):
        raise bad("n_finished", f"is {short(rec['n_finished'], 20)}, not an integer >= 0")
    if rec["run_id"] is not None:
        try:
            validate_run_id(rec["run_id"], "run_id")
        except BomixError as exc:
            raise bad("run_id", str(exc).split(": the store")[0]) from None
    if not (is_finite(rec["budget_used"]) and rec["budget_used"] >= 0):
        raise bad("budget_used", f"is {short(rec['budget_used'], 20)}, not a finite number >= 0")
    for col in ("true_value", "regret"):
        if rec[col] is not None and not is_number(rec[col]):
            raise bad(col, f"is {short(rec[col], 20)}, not a number")
    if not is_finite(rec["created"]):
        raise bad("created", f"is {short(rec['created'], 20)}, not a time")
    for col in ("extrapolated", "fallback", "feasible"):
        if rec[col] not in (None, 0, 1):
            raise bad(col, f"is {short(rec[col], 20)}, not 0, 1 or NULL")
    if rec["pred_mean"] is not None and not is_finite(rec["pred_mean"]):
        raise bad("pred_mean", f"is {short(rec['pred_mean'], 20)}, not a finite number or NULL")
    if rec["pred_sd"] is not None and not (is_finite(rec["pred_sd"]) and rec["pred_sd"] >= 0):
        raise bad("pred_sd", f"is {short(rec['pred_sd'], 20)}, not a finite number >= 0 or NULL")
    if rec["pred_feasible"] is not None and not (is_finite(rec["pred_feasible"]) and 0 <= rec["pred_feasible"] <= 1):
        raise bad("pred_feasible", f"is {short(rec['pred_feasible'], 20)}, not a probability or NULL")
    if (rec["pred_mean"] is None) != (rec["pred_sd"] is None):
        raise bad("pred_sd", "and pred_mean are not both set or both NULL (a prediction is a mean and its sd)")
    mix = parse_json(path, "recommendations", "mixture", where, rec["mixture"])
    if not (isinstance(mix, list) and mix and all(is_number(x) for x in mix)):
        raise bad("mixture", f"is {short(mix, 60)}, not a list of weights")
    try:
        Mixture(mix, domains, renormalize=False)
    except BomixError as exc:
        raise bad("mixture", str(exc).split(":")[0]) from None
    rec["mixture"] = [float(x) for x in mix]
    for col in ("extrapolated", "fallback", "feasible"):
        rec[col] = None if rec[col] is None else bool(rec[col])
    for col in ("pred_mean", "pred_sd", "pred_feasible"):
        rec[col] = None if rec[col] is None else float(rec[col])
    return rec


# ----- runs and curves ----------------------------------------------------------------------------
def curve_row(path: Path, run_id: Any, step: Any, metric: Any, value: Any) -> None:
    """One ``curves`` row: an integer step >= 0, a metric name, a number or NULL (= not measured)."""
    where = f"run {str(run_id)[:20]} step {str(step)[:20]} metric {short(metric, 40)}"
    if not (is_int(step) and step >= 0):
        raise refuse(path, "curves", "step", where, f"is {short(step, 20)}, not an integer >= 0")
    if not is_name(metric):
        raise refuse(path, "curves", "metric", where, "is not a metric name (1-200 characters, no braces, quotes, "
                     "backslashes or control characters)")
    if value is not None and not is_number(value):
        raise refuse(path, "curves", "value", where, f"is {short(value, 20)}, not a number")


def charge_matches(charged: float, expected: float) -> bool:
    """Whether a stored charge is the one the cost model gives its spec (to 1e-9 relative)."""
    return math.isfinite(expected) and abs(charged - expected) <= 1e-9 * max(1.0, abs(expected))


def check_charge(path: Path, run_id: str, charged: float, spec: Any, price: Callable[[Any], float]) -> None:
    """Refuse a run whose stored charge is not what its spec costs (``price(spec)``, target-run equivalents)."""
    try:
        expected = float(price(spec))
    except BomixError as exc:
        raise refuse(path, "runs", "spec", f"run {run_id}", f"cannot be priced ({str(exc).splitlines()[0]})") from None
    if not charge_matches(charged, expected):
        raise refuse(path, "runs", "charged", f"run {run_id}",
                     f"is {charged!r} but its spec ({spec.scale}, {spec.steps} steps"
                     f"{', from step %d' % spec.resume_step if spec.resume_from else ''}) costs {expected!r} "
                     "target-run equivalents (edited to spend more than the budget?)",
                     f"set it back (sqlite3 store.sqlite \"UPDATE runs SET charged = {expected!r} WHERE run_id = "
                     f"'{run_id}'\") or {RESTORE}")


def info_value(path: Path, run_id: str, text: Any) -> dict:
    """A finished run's ``info`` (a JSON object; NULL or '' = none)."""
    if text is None or text == "":
        return {}
    info = parse_json(path, "runs", "info", f"run {run_id}", text)
    if not isinstance(info, dict):
        raise refuse(path, "runs", "info", f"run {run_id}", f"is a JSON {type(info).__name__}, not an object")
    if "params" in info and not (is_finite(info["params"]) and info["params"] > 0):
        raise refuse(path, "runs", "info", f"run {run_id}", f"has params {short(info['params'], 30)}, not a "
                     "parameter count > 0")
    for key in ("controller", "failure"):
        kind = dict if key == "controller" else str
        if info.get(key) is not None and not isinstance(info[key], kind):
            raise refuse(path, "runs", "info", f"run {run_id}", f"has {key} {short(info[key], 30)}, not a "
                         f"{'mapping' if kind is dict else 'string'}")
    return info


def objective_of(path: Path, meta: Mapping) -> Any:
    """The :class:`bomix.objective.Objective` of a (checked) ``meta.objective``."""
    from bomix.objective import Objective

    try:
        return Objective.from_dict(meta)
    except BomixError as exc:
        raise refuse(path, "meta", "value", "key 'objective'", str(exc)) from None
