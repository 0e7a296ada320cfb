"""The writing store: opens (or creates) a campaign's store and records specs, results and recommendations."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.layout import CampaignLayout
from bomix.mixture import Mixture
from bomix.runs import RunResult, RunSpec, is_name, run_id_for, short
from bomix.store.checks import meta_problem
from bomix.store.queries import StoreQueries, reads
from bomix.store.schema import COLUMNS, NotAStoreError, StoreIOError, _Transaction, open_store


class Store(StoreQueries):
    """The campaign's single source of truth; a context manager (closes on exit).

    Args:
        directory: the campaign directory (created if missing); the file is ``CampaignLayout.store``.
        force: open even a 0-byte or unreadable file: it is moved aside to
            ``store.sqlite.bad-<time>`` (never deleted) and a new store is started.

    Opening never writes to an existing, current store (so a store refused by a later check is left
    byte for byte as it was). Every write is one transaction; an SQLite error in one is one line
    (:class:`bomix.store.schema.StoreIOError` for a full, read-only or failing file system: the
    transaction is rolled back and the store is intact).

    Raises:
        BomixError: the file is empty, not a bomix store, damaged, or from a newer bomix, or the
            file system fails (one line each).
    """

    def __init__(self, directory: str | Path, force: bool = False):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BomixError(f"cannot create campaign directory {self.directory}: {exc.strerror}") from None
        self.path = CampaignLayout(self.directory).store
        try:
            self._conn = open_store(self.path, read_only=False)
        except NotAStoreError:
            if not force:
                raise
            self._move_aside()
            self._conn = open_store(self.path, read_only=False)
        self._checked_open(set(COLUMNS))  # a writer's open checks every table

    def _checked_open(self, tables_ok: set[str]) -> None:
        """Check every meta value of the store just opened (closing it when one is refused)."""
        self._tables_ok = tables_ok
        try:
            self.check_meta()
            self.recommendation_rows()  # every row checked once, when the store is opened
        except BaseException:
            self._conn.close()
            raise

    def _move_aside(self) -> None:
        aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    src.replace(Path(f"{aside}{suffix}"))
        except OSError as exc:
            raise StoreIOError(f"cannot move {self.path} aside to {aside.name}: {exc.strerror or exc}: check that "
                               "its directory is writable and re-run") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _tx(self):
        return _Transaction(self._conn, self.path)

    # ----- meta ------------------------------------------------------------------------------
    def set_meta(self, **items: Any) -> None:
        """Record meta values (JSON); a value already stored as given is not written again.

        Each is checked as it will be when read back (:data:`bomix.store.checks.META_CHECKS`).
        """
        new = {k: json.dumps(v, sort_keys=True, default=str) for k, v in items.items()}
        for key, text in new.items():
            problem = meta_problem(key, json.loads(text))
            if problem is not None:
                raise BomixError(f"cannot record {key}={short(items[key], 60)} in {self.path}: it {problem}")
        if self._stored_meta(list(new)) == new:
            return
        with self._tx() as c:
            old = self._stored_meta(list(new))
            c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                          [(k, v) for k, v in new.items() if old.get(k) != v])

    @reads
    def _stored_meta(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        rows = self._conn.execute(f"SELECT key, value FROM meta WHERE key IN ({', '.join('?' * len(keys))})", keys)
        return dict(rows.fetchall())

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
                (result.status, float(result.cost), float(result.wall_time), None if result.ok else result.error,
                 json.dumps(result.info, default=_json_default), int(seq), time.time(), rid),
            )
            curve = result.curve
            bad = [m for m in curve.metrics if not is_name(m)]
            if bad:
                raise BomixError(f"run {rid} reports metric name(s) {short(bad, 80)} that cannot be stored (1-200 "
                                 "characters, no braces, quotes, backslashes or control characters): rename them")
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
            if int(n) != int(expect_runs) or float(spent) + float(charged) > float(budget) + BUDGET_EPS:
                return None
            return self.add_pending([(spec, charged)], seed_for=lambda idx: int(seed_base) + idx)[0]

    # ----- recommendations -------------------------------------------------------------------
    def add_recommendation(self, n_finished: int, run_id: str | None, budget_used: float,
                           mixture: Mixture, true_value: float | None, regret: float | None,
                           extrapolated: bool | None = None, predicted: tuple[float, float] | None = None,
                           fallback: bool | None = None, pred_feasible: float | None = None,
                           feasible: bool | None = None) -> None:
        """Record one recommendation.

        Args:
            n_finished: finished runs it was computed from; ``run_id``: the run whose result triggered it.
            budget_used: cost spent when it was made (target-run equivalents).
            true_value, regret: the simulator's truth of ``mixture`` at the target (None off simulators).
            extrapolated: the simulator scored ``true_value`` outside its trust region (None = unknown).
            predicted: the policy's predicted target objective of ``mixture``, ``(mean, sd)`` (None: no model).
            fallback: the policy answered with a numerical fallback instead of its model (None = unknown).
            pred_feasible: the policy's probability that ``mixture`` meets the outcome constraints (None: no
                constraints or no model of them).
            feasible: ``mixture`` meets the outcome constraints in the simulator's truth (None: unknown / none).
        """
        if pred_feasible is not None and not (np.isfinite(pred_feasible) and 0.0 <= pred_feasible <= 1.0):
            raise BomixError(f"cannot record the probability of feasibility {pred_feasible!r} in {self.path}: a "
                             "probability is in [0, 1]")
        mean = sd = None
        if predicted is not None:
            mean, sd = float(predicted[0]), float(predicted[1])
            if not (np.isfinite(mean) and np.isfinite(sd) and sd >= 0):
                raise BomixError(f"cannot record the prediction {mean!r} +- {sd!r} in {self.path}: a prediction is a "
                                 "finite mean and a finite sd >= 0")
        with self._tx() as c:
            c.execute(
                "INSERT INTO recommendations(n_finished, run_id, budget_used, mixture, true_value, regret,"
                " created, extrapolated, pred_mean, pred_sd, fallback, pred_feasible, feasible)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (int(n_finished), run_id, float(budget_used), json.dumps(mixture.to_list()),
                 true_value, regret, time.time(), None if extrapolated is None else int(bool(extrapolated)),
                 mean, sd, None if fallback is None else int(bool(fallback)),
                 None if pred_feasible is None else float(pred_feasible),
                 None if feasible is None else int(bool(feasible))),
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
