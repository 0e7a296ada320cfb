"""Campaign runs -> the logged-run long format of the replay simulator (simulator/README.md).

One row per (run, evaluated step): ``run_id``, ``scale``, ``params``, ``step``, ``tokens``,
``w:<domain>`` per training domain, ``m:<metric>`` per metric. Only ``ok`` runs are exported; a
continuation's curve repeats its parent's steps (same mixture, so replay sees consistent points).
``bomix simulator build TABLE`` turns the table into a replay simulator of your own runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from bomix.errors import BomixError, unwritable
from bomix.layout import write_json_atomic
from bomix.runs import RunResult
from bomix.runtable import empty, lead_columns, mcol, wcol, wcols


def runs_to_table(results: Iterable[RunResult], domains: Sequence[str], params: Mapping[str, float] | None = None,
                  tokens_per_step: float | None = None, allow_empty: bool = False) -> pd.DataFrame:
    """Finished runs -> long table.

    Args:
        results: run results (failed and diverged ones are skipped).
        domains: the mixture's domain order.
        params: scale -> parameter count (default: ``info["params"]`` of each result).
        tokens_per_step: training tokens per step (``tokens`` column; omitted when None).
        allow_empty: return an empty table instead of raising when no run finished ok.
    """
    rows = []
    for r in results:
        if not r.ok:
            continue
        n = (params or {}).get(r.spec.scale, r.info.get("params"))
        if n is None:
            raise BomixError(f"run {r.spec.run_id} has no parameter count: pass params={{scale: N}}")
        base = {"run_id": str(r.spec.run_id), "scale": r.spec.scale, "params": float(n)}
        base.update({wcol(d): float(x) for d, x in zip(domains, r.spec.mixture.weights)})
        for i, step in enumerate(r.curve.steps):
            row = dict(base, step=int(step))
            if tokens_per_step:
                row["tokens"] = float(step) * float(tokens_per_step)
            row.update({mcol(m): float(v[i]) for m, v in r.curve.metrics.items()})
            rows.append(row)
    if not rows:
        if allow_empty:
            return empty(domains)
        raise BomixError("no finished (ok) runs to export")
    df = pd.DataFrame(rows)
    lead = lead_columns(bool(tokens_per_step))
    rest = [c for c in df.columns if c not in lead]
    weights = wcols(domains)
    return df[lead + weights + [c for c in rest if c not in weights]]


def export_campaign(directory: str | Path, out: str | Path) -> pd.DataFrame:
    """Export the ok runs of a campaign directory's store to ``out`` (``.csv`` or ``.parquet``) and its sidecar.

    Both files are written whole or not at all (a temporary sibling, then renamed); a folder made for
    them is removed again when writing fails.
    """
    from bomix.store import StoreReader

    out = Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise BomixError(f"--out {out}: use a .csv or .parquet file name")
    if out.is_dir():
        raise BomixError(f"--out {out} is a directory: give a .csv or .parquet file name")
    with StoreReader(directory) as store:
        domains = store.get_meta("domains")
        if not domains:
            raise BomixError(f"{store.path} records no domains: is it a campaign store?")
        space = store.get_meta("space") or {}
        obj_meta = store.get_meta("objective")
        results, _, _ = store.load(domains, objective=store.objective())  # every row checked first
    params = {s["name"]: s["params"] for s in space.get("scales", [])}
    df = runs_to_table(results, domains, params, space.get("tokens_per_step"))
    objective = objective_config(obj_meta) if obj_meta else None
    sidecar = {"objective": objective, "target": space.get("target"), "campaign": str(directory)}
    made = _missing_parents(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_table_atomic(df, out)
        write_json_atomic(sidecar_path(out), sidecar)
    except OSError as exc:
        for d in made:  # the folders made for the table, innermost first, if still empty
            try:
                d.rmdir()
            except OSError:
                break
        if exc.filename and Path(exc.filename).name.startswith(f".{out.name}."):  # a temporary sibling
            exc.filename = str(out)
        msg = unwritable(exc, "--out")
        if msg is None:
            raise
        raise BomixError(msg) from None
    return df


def _missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, innermost first."""
    missing = []
    p = path.parent
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing


def _write_table_atomic(df: pd.DataFrame, out: Path) -> None:
    """``df`` to ``out`` (.csv or .parquet) through a temporary sibling, so ``out`` is never a partial table."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp" + out.suffix, dir=out.parent)
    os.close(fd)
    try:
        if out.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: the sidecar written next to an exported table: the campaign's objective and target, which
#: ``bomix simulator build`` uses when no --objective / --target-* is given
SIDECAR_SUFFIX = ".bomix.json"


def sidecar_path(table: str | Path) -> Path:
    """``runs.csv`` -> ``runs.csv.bomix.json``."""
    table = Path(table)
    return table.with_name(table.name + SIDECAR_SUFFIX)


def read_sidecar(table: str | Path) -> dict:
    """The exported table's sidecar (``{}`` when there is none)."""
    import json

    p = sidecar_path(table)
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BomixError(f"{p} is not valid JSON ({exc}): delete it or pass --objective") from None
    return data if isinstance(data, dict) else {}


def objective_config(meta: Mapping) -> dict | str | None:
    """A stored ``Objective.to_dict()`` -> the objective config that rebuilds it (None if none can)."""
    weights = dict(meta.get("weights") or {})
    if not weights:
        return None
    name = meta.get("name") or ""
    if meta.get("maximize") or meta.get("reference"):  # per-metric directions, normalisation (objective.py)
        if float(meta.get("sign", 1.0)) < 0:
            return None
        extra = {k: meta[k] for k in ("maximize", "reference") if meta.get(k)}
        return {"weights": weights, **extra, "name": name}
    if float(meta.get("sign", 1.0)) < 0:
        return {"maximize": next(iter(weights))} if len(weights) == 1 else None
    if len(weights) == 1:
        return next(iter(weights))
    return {"weights": weights, "name": name}
