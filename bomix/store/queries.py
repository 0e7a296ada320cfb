"""What a store answers: meta, runs (checked like data from outside), recommendations, tables.

Every value is checked before it is returned (:mod:`bomix.store.checks`): a hand-edited or damaged store
gives one line naming the table, column and row, never a traceback and never a silently repaired value.
An SQLite error becomes one line too (:func:`bomix.store.schema.sqlite_error`): a damaged file, or an
I/O problem of a healthy one, never confused.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.runs import STATUSES, Curve, RunResult, RunSpec, run_id_for, short, validate_run_id
from bomix.store import checks
from bomix.store.checks import REC_COLUMNS, is_finite, is_int, refuse
from bomix.store.schema import COLUMNS, _Transaction, check_tables, is_store_error, sqlite_error, table_columns

#: the runs columns a read uses, in this order
RUN_COLUMNS = ("run_id", "idx", "spec", "scale", "steps", "status", "charged", "cost", "wall_time", "error", "info",
               "finish_seq", "dispatched_at", "finished_at")
_RUN_SELECT = "SELECT " + ", ".join(RUN_COLUMNS) + " FROM runs"
#: most run ids in one ``IN (...)`` (SQLite's default limit on host parameters is 999 or more)
_CHUNK = 500

if TYPE_CHECKING:
    from bomix.store.runlog import RunLog


def reads(method: Callable) -> Callable:
    """An SQLite error raised by a read becomes one line (:func:`bomix.store.schema.sqlite_error`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            if not is_store_error(exc):
                raise
            raise sqlite_error(self.path, exc, writing=False) from None
        except pd.errors.DatabaseError as exc:  # pandas' wrapper of an sqlite3 error
            if not is_store_error(exc.__cause__):
                raise
            raise sqlite_error(self.path, exc.__cause__, writing=False) from None

    return wrapper


class StoreQueries:
    """The reads of :class:`bomix.store.Store` (and :class:`bomix.store.StoreReader`) on ``self._conn``."""

    path: Path
    _conn: sqlite3.Connection
    _tables_ok: set[str]  # the tables :meth:`_require` found complete

    def _require(self, *tables: str) -> None:
        """Check (once per connection) that ``tables`` and their columns exist before reading them."""
        todo = [t for t in tables if t not in self._tables_ok]
        if todo:
            check_tables(self._conn, self.path, todo)
            self._tables_ok.update(todo)

    def _snapshot(self) -> _Transaction:
        """One read transaction (a consistent snapshot) around several queries; joins an open transaction."""
        return _Transaction(self._conn, self.path, begin="BEGIN")

    # ----- meta ------------------------------------------------------------------------------
    @reads
    def get_meta(self, key: str, default: Any = None) -> Any:
        """The meta value of ``key``, parsed and checked (:data:`bomix.store.checks.META_CHECKS`)."""
        self._require("meta")
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else checks.meta_value(self.path, key, row[0])

    @reads
    def check_meta(self) -> None:
        """Check every meta value (done when a store is opened: a few small rows)."""
        self._require("meta")
        for key, text in self._conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall():
            if not isinstance(key, str):
                raise refuse(self.path, "meta", "key", f"key {short(key, 20)}", "is not text")
            checks.meta_value(self.path, key, text)

    def objective(self) -> Any:
        """The recorded :class:`bomix.objective.Objective` (None when none is recorded)."""
        meta = self.get_meta("objective")
        return None if meta is None else checks.objective_of(self.path, meta)

    # ----- runs ------------------------------------------------------------------------------
    @reads
    def next_index(self) -> int:
        """The index the next inserted run would get (informative only: ``add_pending`` allocates)."""
        self._require("runs")
        row = self._conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM runs").fetchone()
        if not is_int(row[0]):
            raise refuse(self.path, "runs", "idx", "some run", "is not an integer")
        return int(row[0])

    def runs(self, domains: Sequence[str], *, objective: Any = None,
             price: Callable[[RunSpec], float] | None = None,
             check: Callable[[RunSpec], None] | None = None) -> "RunLog":
        """An incrementally refreshed view of the runs (:class:`RunLog`); see :meth:`load` for the arguments."""
        from bomix.store.runlog import RunLog

        return RunLog(self, domains, objective=objective, price=price, check=check)

    def load(self, domains: Sequence[str], *, objective: Any = None,
             price: Callable[[RunSpec], float] | None = None,
             check: Callable[[RunSpec], None] | None = None) -> tuple[list[RunResult], list[RunSpec], float]:
        """Finished results (finishing order), pending specs (dispatch order), total charged (summed in
        dispatch order), every row checked (:class:`RunLog`).

        Args:
            domains: the mixture's domain order.
            objective: also refuse an ``ok`` run whose objective at its last step is not finite.
            price: spec -> its cost in target-run equivalents: also refuse a run charged anything else.
            check: called with each spec (e.g. the problem's fidelity check); raises BomixError to refuse it.
        """
        return self.runs(domains, objective=objective, price=price, check=check).refresh()

    def _spec_of(self, rid: Any, spec_json: Any, status: Any, charged: Any, domains: Sequence[str]) -> RunSpec:
        """A stored run's spec, checked like data from outside: ids, keys, types, meta (one-line errors).

        The campaign then checks it against the problem (ladder, bounds, resume_from) as a new one.
        """
        where = f"store {self.path}"
        validate_run_id(rid, f"{where}: run id")
        row = f"run {rid}"
        if status not in ("pending", *STATUSES):
            raise refuse(self.path, "runs", "status", row, f"is {short(status, 20)}, not one of pending, "
                         f"{', '.join(STATUSES)}")
        if not is_finite(charged) or charged < 0:
            raise refuse(self.path, "runs", "charged", row, f"is {short(charged, 20)}, not a finite number >= 0")
        d = checks.parse_json(self.path, "runs", "spec", row, spec_json)
        try:
            spec = RunSpec.from_dict(d, domains)
        except BomixError as exc:
            raise refuse(self.path, "runs", "spec", row, f"spec is invalid ({str(exc).splitlines()[0]})") from None
        if spec.run_id != rid:
            raise refuse(self.path, "runs", "spec", row, f"the spec says run_id={short(spec.run_id, 80)}")
        if spec.seed is None:
            raise refuse(self.path, "runs", "spec", row, "the spec has no seed (every dispatched run has one)")
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
        return spec

    def _run_row(self, row: Sequence[Any], domains: Sequence[str]) -> RunSpec:
        """The checks of one ``runs`` row (in :data:`RUN_COLUMNS` order) that need no other row; its spec."""
        r = dict(zip(RUN_COLUMNS, row))
        spec = self._spec_of(r["run_id"], r["spec"], r["status"], r["charged"], domains)
        where = f"run {r['run_id']}"
        if not (is_int(r["idx"]) and run_id_for(r["idx"]) == r["run_id"]):
            raise refuse(self.path, "runs", "idx", where, f"is {short(r['idx'], 20)}, not the index of run id "
                         f"{r['run_id']}")
        if r["scale"] != spec.scale or r["steps"] != spec.steps:
            raise refuse(self.path, "runs", "scale/steps", where, f"say ({str(r['scale'])[:20]}, "
                         f"{str(r['steps'])[:20]}) but its spec says ({spec.scale}, {spec.steps})")
        if not is_finite(r["dispatched_at"]):
            raise refuse(self.path, "runs", "dispatched_at", where, f"is {short(r['dispatched_at'], 20)}, not a time")
        if r["status"] == "pending":  # nothing of a result yet (a finished run's columns: RunLog)
            for col in ("cost", "wall_time", "error", "info", "finish_seq", "finished_at"):
                if r[col] is not None:
                    raise refuse(self.path, "runs", col, where, f"is {short(r[col], 30)} on a pending run (NULL "
                                 "until it finishes)")
        return spec

    @reads
    def last_finish_seq(self) -> int | None:
        """The finish number of the latest finished run (None: no run finished yet)."""
        self._require("runs")
        seq = self._conn.execute("SELECT MAX(finish_seq) FROM runs").fetchone()[0]
        if seq is not None and not is_int(seq):
            raise refuse(self.path, "runs", "finish_seq", "some run", f"is {short(seq, 20)}, not an integer")
        return seq

    @reads
    def run_status(self, run_id: str) -> str | None:
        """A run's status (pending | ok | failed | diverged), None for an unknown id."""
        self._require("runs")
        row = self._conn.execute("SELECT status FROM runs WHERE run_id = ?", (str(run_id),)).fetchone()
        if row is None:
            return None
        if row[0] not in ("pending", *STATUSES):
            raise refuse(self.path, "runs", "status", f"run {run_id}", f"is {short(row[0], 20)}, not one of "
                         f"pending, {', '.join(STATUSES)}")
        return str(row[0])

    @reads
    def spec(self, run_id: str, domains: Sequence[str]) -> RunSpec:
        """The stored spec of one run (its row checked)."""
        self._require("runs")
        row = self._conn.execute(f"{_RUN_SELECT} WHERE run_id = ?", (str(run_id),)).fetchone()
        if row is None:
            raise BomixError(f"unknown run id {run_id!r}")
        return self._run_row(row, domains)

    @reads
    def charges(self) -> dict[str, float]:
        """run id -> what it was charged (target-run equivalents), each checked."""
        self._require("runs")
        out = {}
        for rid, charged in self._conn.execute("SELECT run_id, charged FROM runs ORDER BY idx"):
            validate_run_id(rid, f"store {self.path}: run id")
            if not is_finite(charged) or charged < 0:
                raise refuse(self.path, "runs", "charged", f"run {rid}", f"is {short(charged, 20)}, not a finite "
                             "number >= 0")
            out[rid] = float(charged)
        return out

    def check_charges(self, specs: Iterable[RunSpec], price: Callable[[RunSpec], float]) -> None:
        """Refuse a run whose stored charge is not ``price(spec)`` (a store edited to spend more)."""
        charged = self.charges()
        for spec in specs:
            checks.check_charge(self.path, str(spec.run_id), charged[str(spec.run_id)], spec, price)

    def spent(self) -> float:
        """Total charged cost of every dispatched run (summed in dispatch order)."""
        total = 0.0
        for c in self.charges().values():
            total += c
        return total

    # ----- recommendations -------------------------------------------------------------------
    def _rec_select(self) -> str:
        self._require("recommendations")
        cols = table_columns(self._conn, "recommendations")
        # a store opened read-only is not migrated: a column added since it was written reads as NULL (unknown)
        names = [c if c in cols else f"NULL AS {c}" for c in REC_COLUMNS]
        return "SELECT " + ", ".join(names) + " FROM recommendations"

    def _domains_or_none(self) -> list[str] | None:
        return self.get_meta("domains")

    def _checked_recommendations(self) -> tuple[list[tuple], list[dict]]:
        """(raw rows, checked rows) of every recommendation, in order."""
        domains = self._domains_or_none()
        rows = self._conn.execute(f"{self._rec_select()} ORDER BY idx").fetchall()
        return rows, [checks.recommendation(self.path, r, domains) for r in rows]

    @reads
    def recommendation_rows(self) -> list[dict]:
        """Every recommendation (in order), each row checked; ``mixture`` a list of weights."""
        return self._checked_recommendations()[1]

    @reads
    def best_recommendation(self) -> dict | None:
        """The recommendation with the lowest true value so far (None without true values); the earliest
        of equal ones. Reads (and checks) that row only, after checking no true value is other than a number."""
        select = self._rec_select()
        odd = self._conn.execute("SELECT idx, true_value FROM recommendations WHERE true_value IS NOT NULL AND "
                                 "typeof(true_value) NOT IN ('real', 'integer') LIMIT 1").fetchone()
        if odd is not None:
            raise refuse(self.path, "recommendations", "true_value", f"row {short(odd[0], 20)}",
                         f"is {short(odd[1], 20)}, not a number")
        row = self._conn.execute(f"{select} WHERE true_value IS NOT NULL ORDER BY true_value ASC, idx ASC LIMIT 1"
                                 ).fetchone()
        if row is None:
            return None
        best = checks.recommendation(self.path, row, self._domains_or_none())
        return {k: best[k] for k in ("n_finished", "run_id", "budget_used", "mixture", "true_value", "regret")}

    @reads
    def last_recommendation(self) -> dict | None:
        """The latest recommendation (None: none yet): ``n_finished, run_id, budget_used, mixture, true_value,
        regret, extrapolated, pred_mean, pred_sd, fallback, pred_feasible, feasible`` (the last six None where
        unknown: an older store, a policy without a prediction, a problem without outcome constraints)."""
        row = self._conn.execute(f"{self._rec_select()} ORDER BY idx DESC LIMIT 1").fetchone()
        if row is None:
            return None
        rec = checks.recommendation(self.path, row, self._domains_or_none())
        return {k: rec[k] for k in ("n_finished", "run_id", "budget_used", "mixture", "true_value", "regret",
                                    "extrapolated", "pred_mean", "pred_sd", "fallback", "pred_feasible", "feasible")}

    @reads
    def n_fallback_recommendations(self) -> int:
        """How many stored recommendations were numerical fallbacks (``fallback = 1``), each row checked."""
        return sum(bool(r["fallback"]) for r in self._checked_recommendations()[1])

    @reads
    def recommendations(self) -> pd.DataFrame:
        """The recommendations table, checked: one row per recommendation, columns :data:`REC_COLUMNS` (idx,
        n_finished, run_id, budget_used, mixture, true_value, regret, created, extrapolated, pred_mean, pred_sd,
        fallback, pred_feasible, feasible; the last six NULL/NaN where unknown)."""
        rows = self._checked_recommendations()[0]
        return pd.DataFrame.from_records(rows, columns=list(REC_COLUMNS), coerce_float=True)

    # ----- export ----------------------------------------------------------------------------
    @reads
    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """``{"runs", "curves", "recommendations", "meta"}`` tables; runs get one ``w:<domain>`` column each.

        Every row is checked first (:meth:`load`, :meth:`recommendation_rows`, each meta value).
        """
        with self._snapshot():
            domains = self.get_meta("domains") or []
            self.check_meta()
            specs = {}
            if domains:
                results, pending, _ = self.load(domains)
                specs = {s.run_id: s for s in [r.spec for r in results] + pending}
            self.recommendation_rows()
            self._require(*COLUMNS)
            runs = pd.read_sql_query("SELECT * FROM runs ORDER BY idx", self._conn)
            curves = pd.read_sql_query("SELECT * FROM curves ORDER BY run_id, step, metric", self._conn)
            recs = pd.read_sql_query("SELECT * FROM recommendations ORDER BY idx", self._conn)
            meta = pd.read_sql_query("SELECT * FROM meta ORDER BY key", self._conn)
        if len(runs) and domains:
            ordered = [specs[rid] for rid in runs["run_id"]]
            for j, d in enumerate(domains):
                runs[f"w:{d}"] = [s.mixture[j] for s in ordered]
            runs["seed"] = [s.seed for s in ordered]
            runs["tag"] = [s.tag for s in ordered]
            runs["resume_from"] = [s.resume_from for s in ordered]
            runs["controller"] = [None if s.controller is None else s.controller.kind for s in ordered]
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

