"""A backend over a multi-phase space: each flat point (:mod:`bomix.phases`) runs as a mixture schedule.

:class:`PhasedBackend` wraps any backend that runs schedules (``supports_schedule``: the synthetic simulator,
the trainer). Policies, the store and the history see points of the :class:`~bomix.phases.PhasedSpace` (one
mixture over the ``P x K`` phase domains); the wrapped backend sees ``RunSpec(mixture=<the schedule's
step-weighted average>, schedule=<one mixture per phase>)``. Results come back with the policy's spec, so the
store records the point that was asked. A *branch* (``resume_from=<parent>, resume_step=b``, a phase boundary:
:mod:`bomix.campaign.branches`) runs on the wrapped backend as a continuation of the parent from step ``b`` under
the branch's own schedule, and costs only its remaining steps. A run's checkpoints before its last phase are not
values of its schedule: :class:`~bomix.surrogate.observations.ObservationEncoder` reads only final values on a
phased space.

The truth of a simulator (regret in ``bomix bench``) is the wrapped simulator's ``schedule_values`` (noiseless
objective at the end of a run under a schedule); the optimum is a dense search over the phased space, then a
local refinement.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.phases import Phases, PhasedSpace
from bomix.runs import RunResult, RunSpec
from bomix.space import Fidelity, Mixture


class PhasedBackend(Backend):
    """``inner`` run on the schedules of ``phases`` (module docstring). Continuations to more steps and online
    controllers are not offered (a shorter run's phase boundaries are not a prefix of a longer one's); branches at
    a phase boundary are (``supports_branch``, when ``inner`` continues runs)."""

    supports_schedule = False
    supports_continuation = False
    supports_controller = False
    supports_recipe = False

    def __init__(self, inner: Backend, phases: Phases):
        if not inner.supports_schedule:
            raise BomixError(f"backend {inner.name} cannot run mixture schedules, so it cannot run problem.phases: "
                             "use backend=synthetic or backend=trainer, or drop problem.phases")
        self.inner, self.phases = inner, phases
        self.name = inner.name
        self.supports_branch = bool(inner.supports_continuation)
        self.space: PhasedSpace = PhasedSpace.of(inner.space, phases)
        self.metrics = tuple(inner.metrics)
        self.cost_model = inner.cost_model
        self.default_objective = inner.default_objective
        self._optima: dict[str, tuple[Mixture, float]] = {}

    def inner_spec(self, spec: RunSpec) -> RunSpec:
        """The wrapped backend's spec: the point's schedule, its average as the mixture (a branch keeps its
        ``resume_from`` and ``resume_step``, which must be one of the schedule's phase starts)."""
        if spec.schedule is not None or spec.controller is not None:
            raise BomixError("a phased problem's run is one point of the phased space: no schedule or controller "
                             "of its own")
        sched = self.space.schedule(spec.mixture, spec.steps)
        if spec.resume_from is not None and (not self.supports_branch or spec.resume_step not in sched.starts[1:]):
            raise BomixError(f"a phased run continues another only as a branch at one of its phase boundaries "
                             f"{list(sched.starts[1:])} on a backend that continues runs, not at step "
                             f"{spec.resume_step} on {self.name}")
        return dataclasses.replace(spec, mixture=sched.average(spec.steps), schedule=sched)

    def run(self, spec: RunSpec) -> RunResult:
        result = self.inner.run(self.inner_spec(spec))
        return dataclasses.replace(result, spec=spec)

    def cost(self, spec: RunSpec) -> float:
        return self.inner.cost(self.inner_spec(spec))

    # ----- truth (simulators with schedule_values) ----------------------------------------------
    @property
    def has_truth(self) -> bool:
        return self.inner.has_truth and hasattr(self.inner, "schedule_values")

    def true_values(self, w: np.ndarray, fidelity: Fidelity, objective: Objective) -> np.ndarray | None:
        """``(n, P*K) -> (n,)`` noiseless objective of each point's schedule at the end of a run at ``fidelity``."""
        if not self.has_truth:
            return None
        w = np.atleast_2d(np.asarray(w, dtype=float))
        return np.asarray(self.inner.schedule_values(self.space.phase_mixtures(w), self.space.fractions(w),
                                                     fidelity, objective), dtype=float)

    def true_value(self, mixture: Mixture, fidelity: Fidelity, objective: Objective) -> float | None:
        v = self.true_values(mixture.weights[None], fidelity, objective)
        return None if v is None else float(v[0])

    def optimum(self, objective: Objective, fidelity: Fidelity | None = None) -> tuple[Mixture, float] | None:
        """Best schedule at ``fidelity`` (default the target): dense samples of the space plus every phase at
        the best static mixture, then a local refinement of the best few (cached per objective and fidelity)."""
        if not self.has_truth:
            return None
        fid = fidelity or self.space.target
        key = f"{objective.name}|{objective.key}|{fid}"
        if key not in self._optima:
            x, v = best_point(lambda W: self.true_values(W, fid, objective), self.space, fid, self._static(objective, fid))
            self._optima[key] = (Mixture(x, self.space.domains), v)
        return self._optima[key]

    def _static(self, objective: Objective, fid: Fidelity) -> np.ndarray | None:
        """The best static mixture as a schedule (every phase the same), when the wrapped simulator knows it."""
        best = self.inner.optimum(objective, fid)
        if best is None:
            return None
        x = self.space.compose(np.tile(best[0].weights, (1, self.phases.n, 1)), self.space.fractions(self.space.center(fid).weights))
        return self.space.project(x, fid)

    def describe(self) -> dict:
        return {**self.inner.describe(), "phases": self.phases.to_list()}

    def close(self) -> None:
        self.inner.close()


def best_point(f, space: PhasedSpace, fid: Fidelity, extra: np.ndarray | None = None, n: int = 20000,
               n_refine: int = 6, seed: int = 0) -> tuple[np.ndarray, float]:
    """Minimise ``f: (n, P*K) -> (n,)`` over ``space``: ``n`` samples (flat and concentrated Dirichlet) and
    ``extra`` rows, then for the best ``n_refine`` a pattern search of shrinking steps along random feasible
    directions (projected); deterministic for ``seed``. Returns ``(x (P*K,), value)``."""
    rng = np.random.default_rng(seed)
    parts = [space.sample(n // 2, rng, 1.0, fid), space.sample(n - n // 2, rng, 0.2, fid)]
    if extra is not None:
        parts.append(np.atleast_2d(extra))
    X = np.vstack(parts)
    y = f(X)
    best_x, best_y = X[int(np.argmin(y))], float(np.min(y))
    for i in np.argsort(y)[:n_refine]:
        x, fx = X[i], float(y[i])
        step = 0.2
        while step > 1e-5:
            cand = space.project(x[None] + step * rng.standard_normal((64, x.size)), fid)
            fc = f(cand)
            j = int(np.argmin(fc))
            if fc[j] < fx - 1e-12:
                x, fx = cand[j], float(fc[j])
            else:
                step *= 0.5
        if fx < best_y:
            best_x, best_y = x, fx
    return best_x, best_y
