"""The writing store: opens (or creates) a campaign's store and records specs, results and recommendations."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.layout import CampaignLayout
from bomix.runs import RunResult, RunSpec, run_id_for
from bomix.space import Mixture
from bomix.store.queries import StoreQueries
from bomix.store.schema import (SCHEMA_VERSION, _SCHEMA, _add_columns, _check_version, _connect, _create,
                                _file_problem, _Transaction)


class Store(StoreQueries):
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
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "runs" not in tables:
                    raise BomixError(f"{self.path} is an SQLite file of something else (tables "
                                     f"{sorted(tables)[:5]}): choose another campaign directory")
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
        _create(self.path)
        try:
            self._conn = _connect(self.path)
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
    def set_meta(self, **items: Any) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          [(k, json.dumps(v, sort_keys=True, default=str)) for k, v in items.items()])

    # ----- runs ------------------------------------------------------------------------------
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

    # ----- shared stores (the ask/tell Study) -------------------------------------------------
    def batch(self):
        """One transaction around several store calls (calls inside it join it instead of nesting)."""
        return self._tx()

    def add_pending_checked(self, spec: RunSpec, charged: float, *, expect_runs: int, budget: float,
                            seed_base: int) -> RunSpec | None:
        """Add one pending run if the store still holds ``expect_runs`` runs and ``charged`` fits ``budget``.

        One transaction: the index is allocated inside it; a spec without a seed gets
        ``seed_base + idx``. Returns the stored spec (with run id and seed), or None when another
        writer added a run since the caller read the store, or the budget has no room left.
        """
        with self._tx() as c:
            n, spent = c.execute("SELECT COUNT(*), COALESCE(SUM(charged), 0) FROM runs").fetchone()
            if int(n) != int(expect_runs) or float(spent) + float(charged) > float(budget) + 1e-9:
                return None
            return self.add_pending([(spec, charged)], seed_for=lambda idx: int(seed_base) + idx)[0]

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


def _nan_to_none(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)
