"""What a store answers: meta, runs (checked like data from outside), recommendations, tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.runs import STATUSES, Curve, RunResult, RunSpec, validate_meta, validate_run_id


class StoreQueries:
    """The reads of :class:`bomix.store.Store` (and :class:`bomix.store.StoreReader`) on ``self._conn``."""

    # ----- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # ----- runs ------------------------------------------------------------------------------
    def next_index(self) -> int:
        """The index the next inserted run would get (informative only: ``add_pending`` allocates)."""
        row = self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM runs").fetchone()
        return int(row[0])

    def load(self, domains: Sequence[str]) -> tuple[list[RunResult], list[RunSpec], float]:
        """Finished results (finishing order), pending specs (dispatch order), total charged."""
        runs = self._conn.execute(
            "SELECT run_id, spec, status, cost, wall_time, error, info, charged FROM runs"
            " ORDER BY CASE WHEN finish_seq IS NULL THEN 1 ELSE 0 END, finish_seq, idx"
        ).fetchall()
        curves: dict[str, list[tuple[int, str, float | None]]] = {}
        for rid, step, metric, value in self._conn.execute(
            "SELECT run_id, step, metric, value FROM curves ORDER BY run_id, step"
        ):
            curves.setdefault(rid, []).append((step, metric, value))
        results, pending, spent = [], [], 0.0
        for rid, spec_json, status, cost, wall, err, info, charged in runs:
            spec = self._spec_of(rid, spec_json, status, charged, domains)
            spent += charged
            if status == "pending":
                pending.append(spec)
                continue
            results.append(RunResult(spec, status, _curve(curves.get(rid, [])), cost or 0.0,
                                     wall or 0.0, err, json.loads(info) if info else {}))
        return results, pending, spent

    def _spec_of(self, rid: Any, spec_json: Any, status: Any, charged: Any, domains: Sequence[str]) -> RunSpec:
        """A stored run's spec, checked like data from outside: ids, meta keys, numbers (one-line errors).

        The campaign then checks it against the problem (ladder, bounds, resume_from) as a new one.
        """
        where = f"store {self.path}"
        validate_run_id(rid, f"{where}: run id")
        if status not in ("pending", *STATUSES):
            raise BomixError(f"{where}: run {rid} has status {str(status)[:20]!r}: refusing to resume it")
        if not isinstance(charged, (int, float)) or not np.isfinite(charged) or charged < 0:
            raise BomixError(f"{where}: run {rid} has charged cost {charged!r}: refusing to resume it")
        try:
            d = json.loads(spec_json)
            if not isinstance(d, dict):
                raise TypeError("not a JSON object")
            validate_meta(d.get("meta"), f"{where}: run {rid}'s spec meta")
            spec = RunSpec.from_dict(d, domains)
        except BomixError as exc:
            raise BomixError(f"{where}: run {rid}'s spec is invalid ({str(exc).splitlines()[0]})") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise BomixError(f"{where}: run {rid}'s spec is invalid ({type(exc).__name__}: "
                             f"{str(exc)[:120]}): refusing to resume it") from None
        if spec.run_id != rid:
            raise BomixError(f"{where}: run {rid}'s spec says run_id={str(spec.run_id)[:80]!r}: refusing to resume it")
        if spec.resume_from is not None:
            validate_run_id(spec.resume_from, f"{where}: run {rid}'s resume_from")
        if spec.controller is not None:
            from bomix.online.registry import CONTROLLERS

            if spec.controller.kind not in CONTROLLERS:
                raise BomixError(f"{where}: run {rid}'s controller {spec.controller.kind[:40]!r} is not one of "
                                 f"{sorted(CONTROLLERS)}: refusing to resume it")
            ref = spec.controller.reference or {}
            if ref.get("source") == "model" and ref.get("run_id") is not None:
                validate_run_id(ref["run_id"], f"{where}: run {rid}'s controller reference run_id")
        if spec.seed is not None and not isinstance(spec.seed, int):
            raise BomixError(f"{where}: run {rid} has seed {spec.seed!r}: refusing to resume it")
        return spec

    def run_status(self, run_id: str) -> str | None:
        """A run's status (pending | ok | failed | diverged), None for an unknown id."""
        row = self._conn.execute("SELECT status FROM runs WHERE run_id = ?", (str(run_id),)).fetchone()
        return None if row is None else str(row[0])

    def spec(self, run_id: str, domains: Sequence[str]) -> RunSpec:
        """The stored spec of one run."""
        row = self._conn.execute("SELECT run_id, spec, status, charged FROM runs WHERE run_id = ?",
                                 (str(run_id),)).fetchone()
        if row is None:
            raise BomixError(f"unknown run id {run_id!r}")
        return self._spec_of(*row, domains)

    def spent(self) -> float:
        """Total charged cost of every dispatched run."""
        return float(self._conn.execute("SELECT COALESCE(SUM(charged), 0) FROM runs").fetchone()[0])

    # ----- recommendations -------------------------------------------------------------------
    def best_recommendation(self) -> dict | None:
        """The recommendation with the lowest true value so far (None without true values)."""
        row = self._conn.execute(
            "SELECT n_finished, run_id, budget_used, mixture, true_value, regret FROM recommendations"
            " WHERE true_value IS NOT NULL ORDER BY true_value ASC, idx ASC LIMIT 1").fetchone()
        if row is None:
            return None
        out = dict(zip(("n_finished", "run_id", "budget_used", "mixture", "true_value", "regret"), row))
        out["mixture"] = json.loads(out["mixture"])
        return out

    def last_recommendation(self) -> dict | None:
        row = self._conn.execute(
            "SELECT n_finished, run_id, budget_used, mixture, true_value, regret, extrapolated FROM recommendations"
            " ORDER BY idx DESC LIMIT 1").fetchone()
        if row is None:
            return None
        keys = ("n_finished", "run_id", "budget_used", "mixture", "true_value", "regret", "extrapolated")
        out = dict(zip(keys, row))
        out["extrapolated"] = None if out["extrapolated"] is None else bool(out["extrapolated"])
        out["mixture"] = json.loads(out["mixture"])
        return out

    # ----- export ----------------------------------------------------------------------------
    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """``{"runs", "curves", "recommendations", "meta"}`` tables; runs get one ``w:<domain>`` column each."""
        runs = pd.read_sql_query("SELECT * FROM runs ORDER BY idx", self._conn)
        domains = self.get_meta("domains") or []
        if len(runs):
            specs = [json.loads(s) for s in runs["spec"]]
            for j, d in enumerate(domains):
                runs[f"w:{d}"] = [s["mixture"][j] for s in specs]
            runs["seed"] = [s.get("seed") for s in specs]
            runs["tag"] = [s.get("tag", "") for s in specs]
            runs["resume_from"] = [s.get("resume_from") for s in specs]
            runs["controller"] = [(s.get("controller") or {}).get("kind") for s in specs]
        curves = pd.read_sql_query("SELECT * FROM curves ORDER BY run_id, step, metric", self._conn)
        recs = pd.read_sql_query("SELECT * FROM recommendations ORDER BY idx", self._conn)
        meta = pd.read_sql_query("SELECT * FROM meta ORDER BY key", self._conn)
        return {"runs": runs, "curves": curves, "recommendations": recs, "meta": meta}

    def to_parquet(self, out_dir: str | Path) -> list[Path]:
        """Write each table as ``<out_dir>/<table>.parquet``; returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, df in self.to_pandas().items():
            p = out / f"{name}.parquet"
            df.to_parquet(p, index=False)
            paths.append(p)
        return paths


def _curve(rows: Iterable[tuple[int, str, float | None]]) -> Curve:
    rows = list(rows)
    if not rows:
        return Curve(np.zeros(0), {})
    steps = sorted({r[0] for r in rows})
    pos = {s: i for i, s in enumerate(steps)}
    metrics: dict[str, np.ndarray] = {}
    for step, m, v in rows:
        arr = metrics.setdefault(m, np.full(len(steps), np.nan))
        arr[pos[step]] = np.nan if v is None else v
    return Curve(np.asarray(steps), metrics)
