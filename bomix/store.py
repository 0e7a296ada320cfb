"""One SQLite file per campaign directory: config, specs, results, curves, recommendations.

Every write is one transaction (WAL journal, synchronous=FULL), so a campaign killed at any moment
resumes without losing or repeating a finished run: a spec is written *before* it is dispatched
(status ``pending``); a result replaces that status in the same transaction that adds its curve.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Mixture

STORE_FILE = "store.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    scale TEXT NOT NULL,
    steps INTEGER NOT NULL,
    status TEXT NOT NULL,
    charged REAL NOT NULL,
    cost REAL,
    wall_time REAL,
    error TEXT,
    info TEXT,
    finish_seq INTEGER,
    dispatched_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS curves (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    step INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, step, metric)
);
CREATE TABLE IF NOT EXISTS recommendations (
    idx INTEGER PRIMARY KEY,
    n_finished INTEGER NOT NULL,
    run_id TEXT,
    budget_used REAL NOT NULL,
    mixture TEXT NOT NULL,
    true_value REAL,
    regret REAL,
    created REAL NOT NULL,
    extrapolated INTEGER
);
"""


class Store:
    """The campaign's single source of truth.

    Args:
        directory: the campaign directory (created if missing); the file is ``directory/store.sqlite``.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BomixError(f"cannot create campaign directory {self.directory}: {exc.strerror}") from None
        self.path = self.directory / STORE_FILE
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(recommendations)")}
            if "extrapolated" not in cols:  # stores written before the flag existed
                self._conn.execute("ALTER TABLE recommendations ADD COLUMN extrapolated INTEGER")
        except sqlite3.DatabaseError as exc:
            raise BomixError(f"{self.path} is not a bomix store ({exc}): choose another campaign directory") from None

    def close(self) -> None:
        self._conn.close()

    def _tx(self):
        return _Transaction(self._conn)

    # ----- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, **items: Any) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          [(k, json.dumps(v, sort_keys=True, default=str)) for k, v in items.items()])

    # ----- runs ------------------------------------------------------------------------------
    def next_index(self) -> int:
        row = self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM runs").fetchone()
        return int(row[0])

    def add_pending(self, specs: Sequence[tuple[RunSpec, float]]) -> None:
        """Record dispatched specs (with their charged cost) in one transaction."""
        now = time.time()
        with self._tx() as c:
            for spec, charged in specs:
                idx = int(spec.run_id.lstrip("r"))
                c.execute(
                    "INSERT INTO runs(run_id, idx, spec, scale, steps, status, charged, dispatched_at)"
                    " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (spec.run_id, idx, spec.to_json(), spec.scale, int(spec.steps), float(charged), now),
                )

    def finish(self, result: RunResult) -> None:
        """Record a result and its curve atomically (ignored if that run already finished)."""
        rid = result.spec.run_id
        with self._tx() as c:
            row = c.execute("SELECT status FROM runs WHERE run_id = ?", (rid,)).fetchone()
            if row is None:
                raise RuntimeError(f"result for unknown run {rid}")
            if row[0] != "pending":
                return
            seq = c.execute("SELECT COALESCE(MAX(finish_seq) + 1, 0) FROM runs").fetchone()[0]
            c.execute(
                "UPDATE runs SET status = ?, cost = ?, wall_time = ?, error = ?, info = ?, finish_seq = ?,"
                " finished_at = ? WHERE run_id = ?",
                (result.status, float(result.cost), float(result.wall_time), result.error,
                 json.dumps(result.info, default=_json_default), int(seq), time.time(), rid),
            )
            curve = result.curve
            rows = [
                (rid, int(step), m, _nan_to_none(vals[i]))
                for m, vals in curve.metrics.items()
                for i, step in enumerate(curve.steps)
            ]
            c.executemany("INSERT INTO curves(run_id, step, metric, value) VALUES (?, ?, ?, ?)", rows)

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
            spent += charged
            spec = RunSpec.from_dict(json.loads(spec_json), domains)
            if status == "pending":
                pending.append(spec)
                continue
            results.append(RunResult(spec, status, _curve(curves.get(rid, [])), cost or 0.0,
                                     wall or 0.0, err, json.loads(info) if info else {}))
        return results, pending, spent

    # ----- recommendations -------------------------------------------------------------------
    def add_recommendation(self, n_finished: int, run_id: str | None, budget_used: float,
                           mixture: Mixture, true_value: float | None, regret: float | None,
                           extrapolated: bool | None = None) -> None:
        """``extrapolated``: the simulator scored ``true_value`` outside its trust region (None = unknown)."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO recommendations(n_finished, run_id, budget_used, mixture, true_value, regret,"
                " created, extrapolated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (int(n_finished), run_id, float(budget_used), json.dumps(mixture.to_list()),
                 true_value, regret, time.time(), None if extrapolated is None else int(bool(extrapolated))),
            )

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


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


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


def _nan_to_none(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)
