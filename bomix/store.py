"""One SQLite file per campaign directory: config, specs, results, curves, recommendations.

Every write is one transaction (WAL journal, synchronous=FULL), so a campaign killed at any moment
resumes without losing or repeating a finished run: a spec is written *before* it is dispatched
(status ``pending``); a result replaces that status in the same transaction that adds its curve.

Several processes may share one store (the ask/tell ``Study``): every write is a short
``BEGIN IMMEDIATE`` transaction, run indices are allocated inside the insert transaction, and a
busy store is waited for (``busy_timeout``). One *campaign* per directory is enforced separately,
by :class:`bomix.lock.CampaignLock`. :class:`StoreReader` opens a store read-only (bench, export).

The schema version is SQLite's ``user_version``; a store written by a newer bomix is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.layout import STORE_FILE, CampaignLayout
from bomix.runs import STATUSES, Curve, RunResult, RunSpec, run_id_for, validate_meta, validate_run_id
from bomix.space import Mixture

#: the store schema this bomix writes (``PRAGMA user_version``); 0 = a store from before versioning
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000

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
    """The campaign's single source of truth; a context manager (closes on exit).

    Args:
        directory: the campaign directory (created if missing); the file is ``CampaignLayout.store``.
        force: open even a 0-byte or unreadable file: it is moved aside to
            ``store.sqlite.bad-<time>`` (never deleted) and a new store is started.

    Raises:
        BomixError: the file is empty, not a bomix store, or from a newer bomix (one line each).
    """

    def __init__(self, directory: str | Path, force: bool = False):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BomixError(f"cannot create campaign directory {self.directory}: {exc.strerror}") from None
        self.path = CampaignLayout(self.directory).store
        if not self.path.exists():
            _create(self.path)
        problem = _file_problem(self.path)
        if problem is None:
            conn = None
            try:
                conn = _connect(self.path)
                _check_version(conn, self.path)
                conn.executescript(_SCHEMA)
                _add_columns(conn)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self._conn = conn
                return
            except sqlite3.DatabaseError as exc:
                problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if conn is not None:
                    conn.close()
            except BomixError:
                if conn is not None:
                    conn.close()
                raise
        if not force:
            raise BomixError(f"{self.path} is not a bomix store ({problem}): choose another campaign directory, "
                             "or pass force=true to move it aside and start a new campaign")
        aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                src.replace(Path(f"{aside}{suffix}"))
        try:
            self._conn = _connect(self.path)
            self._conn.executescript(_SCHEMA)
            _add_columns(self._conn)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise BomixError(f"cannot create a store at {self.path} ({exc})") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
        """The index the next inserted run would get (informative only: ``add_pending`` allocates)."""
        row = self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM runs").fetchone()
        return int(row[0])

    def add_pending(self, specs: Sequence[tuple[RunSpec, float]],
                    seed_for: Callable[[int], int] | None = None) -> list[RunSpec]:
        """Record dispatched specs (with their charged cost) in one transaction; returns them with ids.

        Run indices (and the run ids ``r<idx>``) are allocated inside the insert transaction, so two
        processes writing one store never get the same index. A spec whose ``seed`` is None gets
        ``seed_for(idx)``. A spec's own ``run_id`` is ignored.
        """
        now = time.time()
        out: list[RunSpec] = []
        with self._tx() as c:
            idx = int(c.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM runs").fetchone()[0])
            for spec, charged in specs:
                seed = spec.seed
                if seed is None:
                    if seed_for is None:
                        raise ValueError("a spec without a seed needs seed_for")
                    seed = seed_for(idx)
                spec = spec.with_(run_id=run_id_for(idx), seed=int(seed))
                c.execute(
                    "INSERT INTO runs(run_id, idx, spec, scale, steps, status, charged, dispatched_at)"
                    " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (spec.run_id, idx, spec.to_json(), spec.scale, int(spec.steps), float(charged), now),
                )
                out.append(spec)
                idx += 1
        return out

    def finish(self, result: RunResult, retry: tuple[RunSpec, float] | None = None) -> RunSpec | None:
        """Record a result and its curve atomically (ignored if that run already finished).

        ``retry``: a (spec, charged) to add as a new pending run in the same transaction (an
        infrastructure failure retried); returns it with its run id, or None.
        """
        rid = result.spec.run_id
        with self._tx() as c:
            row = c.execute("SELECT status FROM runs WHERE run_id = ?", (rid,)).fetchone()
            if row is None:
                raise RuntimeError(f"result for unknown run {rid}")
            if row[0] != "pending":
                return None
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
            if retry is None:
                return None
            spec, charged = retry
            idx = int(c.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM runs").fetchone()[0])
            spec = spec.with_(run_id=run_id_for(idx))
            c.execute(
                "INSERT INTO runs(run_id, idx, spec, scale, steps, status, charged, dispatched_at)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (spec.run_id, idx, spec.to_json(), spec.scale, int(spec.steps), float(charged), time.time()),
            )
            return spec

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
        if spec.seed is not None and not isinstance(spec.seed, int):
            raise BomixError(f"{where}: run {rid} has seed {spec.seed!r}: refusing to resume it")
        return spec

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


class StoreReader(Store):
    """A store opened read-only (``mode=ro``): for bench, export and ``show``; never writes or creates.

    Raises:
        BomixError: no store in ``directory``, or not a readable bomix store.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = CampaignLayout(self.directory).store
        if not self.path.is_file():
            raise BomixError(f"{self.directory} has no {STORE_FILE}: give a campaign directory")
        problem = _file_problem(self.path)
        if problem is not None:
            raise BomixError(f"{self.path} is not a bomix store ({problem}): is it a campaign directory?")
        try:
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                         timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            _check_version(self._conn, self.path)
            self._conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BomixError(f"{self.path} is not a bomix store ({str(exc).splitlines()[0]}): "
                             "is it a campaign directory?") from None

    def _tx(self):
        raise BomixError(f"{self.path} is open read-only")

    def recommendations(self) -> pd.DataFrame:
        """The recommendations table (idx, n_finished, run_id, budget_used, true_value, regret, ...)."""
        return pd.read_sql_query("SELECT * FROM recommendations ORDER BY idx", self._conn)


def _create(path: Path) -> None:
    """Create an empty store atomically: built under a temporary name, then hard-linked into place.

    So ``store.sqlite`` is never a half-created (e.g. 0-byte) file, even if the process is killed
    here; ``os.link`` fails if another process created the store first (theirs is kept).
    """
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("PRAGMA journal_mode=WAL")  # persistent in the file
        finally:
            conn.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    except (OSError, sqlite3.Error) as exc:
        raise BomixError(f"cannot create the store {path}: {exc}") from None
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _file_problem(path: Path) -> str | None:
    """Why an existing file at ``path`` cannot be a store (None: absent, or starts like SQLite)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if not head:
        return "the file is empty (0 bytes)"
    if head != _SQLITE_MAGIC:
        return "not an SQLite file"
    return None


def _add_columns(conn: sqlite3.Connection) -> None:
    """Columns added after a store may have been written: recommendations.extrapolated (NULL = unknown)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(recommendations)")}
    if "extrapolated" not in cols:
        conn.execute("ALTER TABLE recommendations ADD COLUMN extrapolated INTEGER")


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise BomixError(f"{path} has store schema version {version}; this bomix reads up to "
                         f"{SCHEMA_VERSION}: upgrade bomix to open it")


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
