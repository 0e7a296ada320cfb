"""Hyperband over the answered fidelities, with random mixtures (the MFMS paper's SMAC baseline).

Brackets ``s = s_max, ..., 0`` (then again) of successive halving (Li et al. 2018): bracket ``s`` starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` random mixtures at rung ``s_max - s`` and promotes the best
``1/eta`` of each finished rung to the next, up to the target fidelity.

Rungs come from ``problem.proposals`` (what may be proposed where), cheapest first, ending at the target:

1. the grid's steps at the target scale, when there are >= 2 up to the target steps (MFMS, synthetic);
2. on a continuous space without a grid, a geometric step ladder ``T / eta^j`` down to ``min_steps``;
3. otherwise (e.g. RegMix: 1M@1000, 60M@1000, 1B@23842) the answered fidelities ordered by cost,
   thinned from the target down so that each rung costs at most ``1/eta`` of the next.

Promotions continue the earlier run (only the extra steps cost) when the backend supports it and the
next rung is the same scale; on a pool the promoted mixture is snapped to the nearest unused pool point
at the next rung. The bracket state is read from the specs' ``meta`` (``{"hb": [bracket, rung]}``), so a
resumed campaign continues exactly.
"""

from __future__ import annotations

import math

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.policies.base import Policy
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture


class HyperbandPolicy(Policy):
    """Hyperband-style successive halving over the answered fidelities (see the module docstring).

    Args:
        eta: halving rate (keep the best ``1/eta`` at each rung).
        min_steps: smallest rung when the ladder is geometric (default: the space's ``min_steps``).
        alpha: Dirichlet concentration of the random mixtures.
    """

    name = "hyperband"

    def __init__(self, eta: float = 3.0, min_steps: int | None = None, alpha: float = 1.0):
        if not float(eta) > 1:
            raise BomixError(f"hyperband: eta must be > 1, got {eta}")
        self.eta, self.min_steps_cfg, self.alpha = float(eta), min_steps, float(alpha)

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        self.rungs: list[Fidelity] = self._rungs(problem)
        self.s_max = len(self.rungs) - 1

    def _rungs(self, problem) -> list[Fidelity]:
        """The rung fidelities, cheapest first, the last one the target."""
        t, props = problem.space.target, problem.proposals
        props.check_fidelity(t)
        steps = [s for s in props.steps_at(t.scale) if s <= t.steps]
        if len(steps) >= 2 and steps[-1] == t.steps:
            return [Fidelity(t.scale, s) for s in steps]
        if problem.space.grid is None and not props.is_pool:
            lo = int(self.min_steps_cfg or problem.space.min_steps)
            ladder, r = [t.steps], t.steps / self.eta
            while r >= lo:
                ladder.insert(0, int(round(r)))
                r /= self.eta
            return [Fidelity(t.scale, s) for s in ladder]
        cost = lambda f: float(problem.cost(f.scale, f.steps))  # noqa: E731
        cheaper = sorted((f for f in props.fidelities() if f != t and cost(f) < cost(t)), key=cost)
        rungs = [t]
        for f in reversed(cheaper):  # most expensive first: keep each rung <= 1/eta of the one above it
            if cost(f) * self.eta <= cost(rungs[0]) * (1 + 1e-9):
                rungs.insert(0, f)
        return rungs

    def _n_start(self, s: int) -> int:
        return int(math.ceil((self.s_max + 1) / (s + 1) * self.eta**s))

    def _start(self, k: int, fid: Fidelity, rng, used, bracket: int, rung: int) -> list[RunSpec]:
        W = self.problem.proposals.sample(k, rng, fid, self.alpha, used=used)
        return [RunSpec(Mixture(w, self.space.domains), fid.scale, fid.steps, tag="hyperband",
                        meta={"hb": [bracket, rung]}) for w in W]

    def _promote(self, prev: RunSpec, ok: bool, fid: Fidelity, used, bracket: int, rung: int) -> RunSpec | None:
        props = self.problem.proposals
        w = prev.mixture.weights
        if not props.allows(prev.mixture, fid):
            w = props.snap(w, fid, used)
            if w is None:
                return None
        same = fid.scale == prev.scale and fid.steps > prev.steps and np.array_equal(w, prev.mixture.weights)
        cont = same and self.problem.supports_continuation and ok
        return RunSpec(Mixture(w, self.space.domains), fid.scale, fid.steps,
                       resume_from=prev.run_id if cont else None, resume_step=prev.steps if cont else 0,
                       tag="hyperband", meta={"hb": [bracket, rung]})

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        specs = history.all_specs()
        tagged = [s for s in specs if s.meta and "hb" in s.meta]
        done = {r.spec.run_id: r for r in history.results}
        bracket = max((s.meta["hb"][0] for s in tagged), default=0)
        s = self.s_max - bracket % (self.s_max + 1)
        in_b = [x for x in tagged if x.meta["hb"][0] == bracket]
        rung = max((x.meta["hb"][1] for x in in_b), default=self.s_max - s)
        at = [x for x in in_b if x.meta["hb"][1] == rung]
        need = max(1, int(self._n_start(s) / self.eta ** (rung - (self.s_max - s))))
        out: list[RunSpec] = []
        rng = self.rng(history)
        if len(at) < need and rung == self.s_max - s:  # fill the bracket's first rung
            out = self._start(min(n, need - len(at)), self.rungs[rung], rng, specs, bracket, rung)
            if out or not at:
                return [x for x in out if self.fits(x, budget_left)]
            # an exhausted pool: the rung holds all there is, go on with it
        if any(x.run_id not in done for x in at):
            return []  # wait for the rung to finish
        if rung < self.s_max:  # promote the best 1/eta
            keep = max(1, int(len(at) / self.eta))
            scored = sorted((self._score(done[x.run_id], history), i) for i, x in enumerate(at))
            used = list(specs)
            for _, i in scored[:keep]:
                spec = self._promote(at[i], done[at[i].run_id].ok, self.rungs[rung + 1], used, bracket, rung + 1)
                if spec is not None:
                    out.append(spec)
                    used.append(spec)
            out = out[:n]
            if not out:  # nothing left to promote to (an exhausted pool): start the next bracket
                return self._next_bracket(bracket, rng, specs, n, budget_left)
        else:
            return self._next_bracket(bracket, rng, specs, n, budget_left)
        return [x for x in out if self.fits(x, budget_left)]

    def _next_bracket(self, bracket: int, rng, specs, n: int, budget_left: float) -> list[RunSpec]:
        s2 = self.s_max - (bracket + 1) % (self.s_max + 1)
        out = self._start(min(n, self._n_start(s2)), self.rungs[self.s_max - s2], rng, specs, bracket + 1,
                          self.s_max - s2)
        return [x for x in out if self.fits(x, budget_left)]

    def _score(self, result, history: History) -> float:
        if not result.ok:
            return math.inf
        y = history.objective.on_curve(result.curve)
        y = y[np.isfinite(y)]
        return float(y[-1]) if y.size else math.inf

    def recommend(self, history: History) -> Mixture:
        """The best mixture observed at the highest rung reached (the target when it was reached)."""
        obs = history.observations(checkpoints=False)
        for f in reversed(self.rungs):
            top = obs.select((obs.scales == f.scale) & (obs.steps == f.steps))
            if len(top):
                return Mixture(top.w[int(np.argmin(top.y))], self.space.domains)
        return self.space.center()
