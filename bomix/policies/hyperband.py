"""Hyperband over training steps at the target scale, with random mixtures (the MFMS paper's SMAC baseline).

Brackets ``s = s_max, ..., 0`` (then again) of successive halving (Li et al. 2018): bracket ``s`` starts
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` random mixtures at rung ``s_max - s`` and promotes the best
``1/eta`` of each finished rung to the next, up to the target steps. Rungs are the space's step grid at
the target scale (or a geometric ladder ``T / eta^j`` when the grid has one step). Promotions continue
the earlier run (only the extra steps cost) when the backend supports it. The bracket state is read
from the specs' ``meta`` (``{"hb": [bracket, rung]}``), so a resumed campaign continues exactly.
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
    """Hyperband-style successive halving over steps at the target scale.

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
        t = problem.space.target
        grid = sorted(s for s in (problem.space.step_grid or ()) if s <= t.steps)
        if len(grid) >= 2 and grid[-1] == t.steps:
            rungs = grid
        else:
            lo = int(self.min_steps_cfg or problem.space.min_steps)
            rungs, r = [t.steps], t.steps / self.eta
            while r >= lo:
                rungs.insert(0, int(round(r)))
                r /= self.eta
        self.rungs = rungs
        self.s_max = len(rungs) - 1

    def _n_start(self, s: int) -> int:
        return int(math.ceil((self.s_max + 1) / (s + 1) * self.eta**s))

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        t = self.space.target
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
            for w in self.space.sample(min(n, need - len(at)), rng, self.alpha, t):
                out.append(RunSpec(Mixture(w, self.space.domains), t.scale, self.rungs[rung], tag="hyperband",
                                   meta={"hb": [bracket, rung]}))
        elif any(x.run_id not in done for x in at):
            return []  # wait for the rung to finish
        elif rung < self.s_max:  # promote the best 1/eta
            keep = max(1, int(len(at) / self.eta))
            scored = sorted((self._score(done[x.run_id], history), i) for i, x in enumerate(at))
            for _, i in scored[:keep]:
                prev = at[i]
                cont = self.problem.supports_continuation and done[prev.run_id].ok
                out.append(RunSpec(prev.mixture, t.scale, self.rungs[rung + 1],
                                   resume_from=prev.run_id if cont else None,
                                   resume_step=prev.steps if cont else 0, tag="hyperband",
                                   meta={"hb": [bracket, rung + 1]}))
            out = out[:n]
        else:  # bracket finished: start the next one
            s2 = self.s_max - (bracket + 1) % (self.s_max + 1)
            for w in self.space.sample(min(n, self._n_start(s2)), rng, self.alpha, t):
                out.append(RunSpec(Mixture(w, self.space.domains), t.scale, self.rungs[self.s_max - s2],
                                   tag="hyperband", meta={"hb": [bracket + 1, self.s_max - s2]}))
        return [x for x in out if self.fits(x, budget_left)]

    def _score(self, result, history: History) -> float:
        if not result.ok:
            return math.inf
        y = history.objective.on_curve(result.curve)
        y = y[np.isfinite(y)]
        return float(y[-1]) if y.size else math.inf

    def recommend(self, history: History) -> Mixture:
        """The best mixture observed at the largest step reached at the target scale."""
        t = self.space.target
        obs = history.observations(checkpoints=False)
        obs = obs.select(obs.scales == t.scale)
        if not len(obs):
            return self.space.center()
        top = obs.select(obs.steps == obs.steps.max())
        return Mixture(top.w[int(np.argmin(top.y))], self.space.domains)
