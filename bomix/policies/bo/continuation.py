"""The one continuation helper: which earlier runs a longer run may continue, and what a fidelity costs.

A run of mixture ``w`` at a scale may be continued from its last step to a larger grid step when the
backend supports it; only the extra steps are charged. A run that a pending spec already continues, or a
(mixture, scale) with a pending run, is not offered again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bomix.history import History
from bomix.policies.base import Problem
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture

#: Tag of specs that continue an earlier run.
CONTINUE_TAG = "continue"


def longest_runs(history: History, pending: Sequence[RunSpec]) -> dict[tuple[Mixture, str], RunSpec]:
    """The longest ok run per (mixture, scale) that no pending spec continues or duplicates."""
    busy = {s.resume_from for s in pending if s.resume_from}
    taken = {(s.mixture, s.scale) for s in pending}
    out: dict[tuple[Mixture, str], RunSpec] = {}
    for r in history.ok:
        key = (r.spec.mixture, r.spec.scale)
        if key in taken:
            continue
        if key not in out or r.spec.steps > out[key].steps:
            out[key] = r.spec
    return {k: s for k, s in out.items() if s.run_id not in busy}


def continue_spec(prev: RunSpec, steps: int, tag: str = CONTINUE_TAG) -> RunSpec:
    """A spec continuing ``prev`` (same mixture and scale) to ``steps``."""
    return RunSpec(prev.mixture, prev.scale, int(steps), resume_from=prev.run_id, resume_step=prev.steps, tag=tag)


def fidelity_options(problem: Problem, grid: Sequence[Fidelity], w: np.ndarray, history: History,
                     pending: Sequence[RunSpec], min_distance: float = 0.0, continuation: bool = True,
                     ) -> list[tuple[Fidelity, float, RunSpec | None]]:
    """``[(fidelity, cost, run to continue | None)]`` for each grid fidelity not yet measured at ``w``.

    A fidelity counts as measured when a run (finished or pending) within L1 distance ``min_distance``
    of ``w`` reached its scale and at least its steps (that run's curve holds the value). A shorter run of
    exactly ``w`` at the same scale is continued (only the extra steps cost) when ``continuation`` and the
    backend allow it.
    """
    can_resume = continuation and problem.supports_continuation
    longest = {scale: s for (m, scale), s in longest_runs(history, pending).items()
               if np.abs(m.weights - w).sum() <= 1e-12} if can_resume else {}
    near: dict[str, int] = {}
    for sp in [r.spec for r in history.ok] + list(pending):
        if np.abs(sp.mixture.weights - w).sum() <= max(min_distance, 1e-12):
            near[sp.scale] = max(near.get(sp.scale, 0), sp.steps)
    out = []
    for f in grid:
        if near.get(f.scale, 0) >= f.steps:
            continue
        prev = longest.get(f.scale)
        if prev is not None and prev.steps < f.steps:
            out.append((f, problem.cost(f.scale, f.steps, prev.steps), prev))
        else:
            out.append((f, problem.cost.of(f), None))
    return out
