"""The runs of a store read incrementally (:class:`RunLog`): what a Study re-reads before every ask and tell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.runs import STATUSES, Curve, RunResult, RunSpec, short
from bomix.store import checks
from bomix.store.checks import is_finite, is_int, is_number, refuse
from bomix.store.queries import _CHUNK, _RUN_SELECT, StoreQueries, _curve, reads


class RunLog:
    """A store's runs as a policy sees them, read incrementally: each :meth:`refresh` reads only the runs
    added (``idx`` above the highest seen) or finished (``finish_seq`` above the highest seen) since the
    last one, in one read snapshot, and returns exactly what a full read would.

    This holds because bomix allocates both numbers inside the write transaction (``MAX + 1``), so a
    snapshot that holds index ``i`` (finish number ``f``) holds every smaller one, and a finished run
    never changes again. Each row is checked once, when first read; the first refresh (a full read) also
    checks what only a full read can see (curve rows of unknown or pending runs, repeated finish numbers).

    Args:
        store: the store to read.
        domains, objective, price, check: see :meth:`StoreQueries.load`.

    Attributes:
        results: finished runs in finishing order; ``spent``: total charged, summed in dispatch order;
        dispatched_at: run id -> when it was dispatched (seconds since the epoch).
    """

    def __init__(self, store: StoreQueries, domains: Sequence[str], *, objective: Any = None,
                 price: Callable[[RunSpec], float] | None = None, check: Callable[[RunSpec], None] | None = None):
        self.store, self.path = store, store.path
        self.domains = tuple(domains)
        self.objective, self.price, self.check = objective, price, check
        self.results: list[RunResult] = []
        self.spent = 0.0
        self.dispatched_at: dict[str, float] = {}
        self._pending: dict[str, RunSpec] = {}  # run id -> spec, in dispatch order
        self._finished: set[str] = set()
        self._max_idx = -1
        self._max_seq = -1
        self._full = True  # the next refresh reads everything

    @property
    def pending(self) -> list[RunSpec]:
        return list(self._pending.values())

    @property
    def last_finish_seq(self) -> int | None:
        """The finish number of the latest finished run seen (None: none seen)."""
        return None if self._max_seq < 0 else self._max_seq

    def pending_spec(self, run_id: str) -> RunSpec | None:
        """The spec of ``run_id`` if it was pending at the last refresh."""
        return self._pending.get(run_id)

    def result(self, run_id: str) -> RunResult | None:
        return next((r for r in self.results if r.spec.run_id == run_id), None)

    @reads
    def refresh(self) -> tuple[list[RunResult], list[RunSpec], float]:
        """Read what changed; returns (results, pending, spent) as :meth:`StoreQueries.load` does (new lists)."""
        conn = self.store._conn
        self.store._require("runs", "curves")
        with self.store._snapshot():
            if self._full:
                new = conn.execute(f"{_RUN_SELECT} ORDER BY idx").fetchall()
                fin = [r for r in new if r[5] != "pending"]
                curves = conn.execute("SELECT run_id, step, metric, value FROM curves ORDER BY run_id, step").fetchall()
            else:
                new = conn.execute(f"{_RUN_SELECT} WHERE idx > ? ORDER BY idx", (self._max_idx,)).fetchall()
                fin = conn.execute(f"{_RUN_SELECT} WHERE finish_seq > ? ORDER BY finish_seq, idx",
                                   (self._max_seq,)).fetchall()
                ids = [r[0] for r in fin]
                curves = []
                for i in range(0, len(ids), _CHUNK):
                    part = ids[i:i + _CHUNK]
                    curves += conn.execute("SELECT run_id, step, metric, value FROM curves WHERE run_id IN "
                                           f"({', '.join('?' * len(part))}) ORDER BY run_id, step", part).fetchall()
        self._apply(new, fin, curves)
        return list(self.results), self.pending, self.spent

    def _apply(self, new: list, fin: list, curve_rows: list) -> None:
        path = self.path
        fresh: dict[str, RunSpec] = {}  # runs first seen now that are already finished
        pending = dict(self._pending)
        spent, max_idx, dispatched = self.spent, self._max_idx, {}
        for row in new:
            spec = self.store._run_row(row, self.domains)
            rid, idx, charged = row[0], row[1], float(row[6])
            if self.check is not None:
                try:
                    self.check(spec)
                except BomixError as exc:
                    raise refuse(path, "runs", "spec", f"run {rid}", f"does not fit this problem "
                                 f"({str(exc).splitlines()[0]})") from None
            if self.price is not None:
                checks.check_charge(path, rid, charged, spec, self.price)
            spent += charged
            max_idx = max(max_idx, idx)
            dispatched[rid] = float(row[12])
            if row[5] == "pending":
                pending[rid] = spec
            else:
                fresh[rid] = spec
        if self._full:
            fin = self._finish_order(fin)
        by_run: dict[str, list] = {}
        for rid, step, metric, value in curve_rows:
            checks.curve_row(path, rid, step, metric, value)
            by_run.setdefault(rid, []).append((step, metric, value))
        if self._full:
            known = {r[0]: r[5] for r in new}
            for rid in by_run:
                if known.get(rid, "pending") == "pending":
                    raise refuse(path, "curves", "run_id", f"run {str(rid)[:20]}",
                                 "has curve rows but " + ("is pending" if rid in known else "is not in table runs"))
        results, finished, max_seq = [], set(self._finished), self._max_seq
        for row in fin:
            rid, status, cost, wall, err, info, seq = row[0], row[5], row[7], row[8], row[9], row[10], row[11]
            where = f"run {rid}"
            if status not in STATUSES:
                raise refuse(path, "runs", "status", where, f"is {short(status, 20)} on a run with a finish number, "
                             f"not one of {', '.join(STATUSES)}")
            spec = pending.pop(rid, None) or fresh.pop(rid, None)
            if spec is None or rid in finished:
                raise refuse(path, "runs", "finish_seq", where, "was renumbered after the run had finished")
            if not (is_int(seq) and seq > max_seq):
                raise refuse(path, "runs", "finish_seq", where, f"is {short(seq, 20)}, not a new finish number "
                             "(each finished run has its own)")
            if not (is_finite(cost) and cost >= 0):
                raise refuse(path, "runs", "cost", where, f"is {short(cost, 20)}, not a finite number >= 0")
            if wall is not None and not is_number(wall):
                raise refuse(path, "runs", "wall_time", where, f"is {short(wall, 20)}, not a number")
            if err is not None and (status == "ok" or not isinstance(err, str)):
                raise refuse(path, "runs", "error", where, f"is {short(err, 30)}" + (
                    " on an ok run (an error is the reason a run failed or diverged)" if status == "ok" else
                    ", not text"))
            if not is_finite(row[13]):
                raise refuse(path, "runs", "finished_at", where, f"is {short(row[13], 20)}, not a time")
            curve = _curve(by_run.get(rid, []))
            if status == "ok":
                self._check_ok(rid, curve)
            results.append(RunResult(spec, status, curve, float(cost), 0.0 if wall is None else float(wall), err,
                                     checks.info_value(path, rid, info)))
            finished.add(rid)
            max_seq = seq
        if fresh:
            rid = next(iter(fresh))
            raise refuse(path, "runs", "finish_seq", f"run {rid}", "is missing or repeated on a finished run")
        # everything checked: take it
        self.results.extend(results)
        self._finished, self._pending, self.spent = finished, pending, spent
        self._max_idx, self._max_seq = max_idx, max_seq
        self.dispatched_at.update(dispatched)
        self._full = False

    def _finish_order(self, fin: list) -> list:
        """A full read's finished rows in finishing order (each must have its own finish number)."""
        for row in fin:
            if not is_int(row[11]):
                raise refuse(self.path, "runs", "finish_seq", f"run {row[0]}",
                             f"is {short(row[11], 20)} on a finished run, not an integer")
        return sorted(fin, key=lambda r: (r[11], r[1]))

    def _check_ok(self, rid: str, curve: Curve) -> None:
        """An ``ok`` run has a curve, and a finite objective at its last step (bomix records anything else
        as failed or diverged, so such a row was edited)."""
        if not len(curve):
            raise refuse(self.path, "curves", "run_id", f"run {rid}", "has no rows, but the run's status is ok "
                         "(an ok run always has a curve)")
        if self.objective is not None:
            y = self.objective.on_curve(curve)
            if not np.isfinite(y[-1]):
                raise refuse(self.path, "curves", "value", f"run {rid} step {int(curve.steps[-1])}",
                             f"gives the objective {float(y[-1])}, but the run's status is ok (a non-finite "
                             "objective is recorded as diverged)")
