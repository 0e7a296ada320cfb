"""The policy's view of a campaign: everything it may read (the store is the source of truth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bomix.objective import Objective
from bomix.runs import RunResult, RunSpec
from bomix.space import Fidelity, Space


@dataclass
class Observations:
    """Objective observations, one per evaluated checkpoint.

    Attributes:
        w: ``(n, K)`` mixtures.
        scales: ``(n,)`` scale names.
        steps: ``(n,)`` evaluated steps.
        y: ``(n,)`` objective values (lower is better).
        run_ids: ``(n,)`` the run each observation comes from.
        final: ``(n,)`` bool, True for the last checkpoint of its run.
    """

    w: np.ndarray
    scales: np.ndarray
    steps: np.ndarray
    y: np.ndarray
    run_ids: np.ndarray
    final: np.ndarray

    def __len__(self) -> int:
        return int(self.y.size)

    def X(self, space: Space) -> np.ndarray:
        """``(n, K + 2)`` GP inputs."""
        return space.encode(self.w, list(self.scales), self.steps)

    def select(self, mask: np.ndarray) -> "Observations":
        return Observations(*(a[mask] for a in (self.w, self.scales, self.steps, self.y, self.run_ids, self.final)))


@dataclass
class History:
    """Finished results and pending specs, in dispatch order.

    Attributes:
        space, objective: the problem.
        results: finished runs (any status), in finishing order.
        pending: dispatched specs without a result yet.
        budget: total budget (target-run equivalents); ``spent`` = charged so far.
        reused: earlier campaigns' runs mapped into this space (:class:`bomix.warmstart.reuse.Reused`; never
            charged, not in ``results``); None without a warm start.
    """

    space: Space
    objective: Objective
    results: list[RunResult] = field(default_factory=list)
    pending: list[RunSpec] = field(default_factory=list)
    budget: float = float("inf")
    spent: float = 0.0
    reused: Any = None

    @property
    def n_dispatched(self) -> int:
        return len(self.results) + len(self.pending)

    @property
    def ok(self) -> list[RunResult]:
        return [r for r in self.results if r.ok]

    def all_specs(self) -> list[RunSpec]:
        return [r.spec for r in self.results] + list(self.pending)

    # the two changes of a view, made only by :class:`bomix.campaign.ledger.Ledger` (and tests building one)
    def add_pending(self, spec: RunSpec, charged: float) -> None:
        """A dispatched run: pending, its charge counted in ``spent``."""
        self.pending.append(spec)
        self.spent += charged

    def finish(self, result: RunResult) -> None:
        """A finished run: out of ``pending`` (if there), into ``results``."""
        rid = result.spec.run_id
        self.pending = [s for s in self.pending if s.run_id != rid]
        self.results.append(result)

    def observations(self, checkpoints: bool = True, max_per_run: int | None = None,
                     objective: Objective | None = None) -> Observations:
        """Objective observations of every ok run (every checkpoint, or finals only).

        ``max_per_run`` subsamples long curves evenly in log-step, always keeping the last one. On a phased space
        (:mod:`bomix.phases`) only finals: a run's earlier checkpoints are not values of its schedule.
        """
        checkpoints = checkpoints and getattr(self.space, "phases", None) is None
        cols: dict[str, list] = {k: [] for k in ("w", "scales", "steps", "y", "run_ids", "final")}
        for r in self.ok:
            y = (objective or self.objective).on_curve(r.curve)
            steps = r.curve.steps
            idx = np.nonzero(np.isfinite(y))[0]
            if idx.size == 0:
                continue
            if not checkpoints:
                idx = idx[-1:]
            elif max_per_run and idx.size > max_per_run:
                if max_per_run == 1:
                    idx = idx[-1:]
                else:
                    idx = idx[np.unique(np.round(np.geomspace(1, idx.size, max_per_run)).astype(int) - 1)]
            label = _online_labels(r)
            for i in idx:
                cols["w"].append(r.spec.mixture.weights if label is None else label(int(steps[i])))
                cols["scales"].append(r.spec.scale)
                cols["steps"].append(int(steps[i]))
                cols["y"].append(float(y[i]))
                cols["run_ids"].append(r.spec.run_id)
                cols["final"].append(bool(i == idx[-1]))
        k = self.space.k
        return Observations(
            w=np.array(cols["w"], dtype=float).reshape(-1, k),
            scales=np.array(cols["scales"], dtype=object),
            steps=np.array(cols["steps"], dtype=np.int64),
            y=np.array(cols["y"], dtype=float),
            run_ids=np.array(cols["run_ids"], dtype=object),
            final=np.array(cols["final"], dtype=bool),
        )

    def at_fidelity(self, fid: Fidelity, objective: Objective | None = None) -> Observations:
        """Observations exactly at ``fid`` (checkpoints of longer runs included)."""
        obs = self.observations(objective=objective)
        return obs.select((obs.scales == fid.scale) & (obs.steps == fid.steps))

    def table(self) -> pd.DataFrame:
        """Ok runs in the logged-run long format: run_id, scale, params, step, w:<d>..., m:<metric>..."""
        from bomix.export import runs_to_table

        params = {r.spec.scale: self.space.scale(r.spec.scale).params for r in self.ok}
        return runs_to_table(self.ok, self.space.domains, params, allow_empty=True)


def _online_labels(r: RunResult):
    """For a run with an online controller: step -> the realised average mixture up to that step
    (from ``info["controller"]["trace"]``), so its checkpoints are not labelled with the initial
    mixture. None for a static run."""
    if r.spec.controller is None:
        return None
    trace = (r.info.get("controller") or {}).get("trace") or {}
    steps = np.asarray(trace.get("steps") or [], dtype=np.int64)
    real = np.asarray(trace.get("realised") or [], dtype=float)
    if steps.size == 0 or real.shape[0] != steps.size:
        return lambda step: r.spec.mixture.weights
    real = real / real.sum(axis=1, keepdims=True)

    def label(step: int) -> np.ndarray:
        i = int(np.searchsorted(steps, step, side="right")) - 1
        return real[max(i, 0)]

    return label
