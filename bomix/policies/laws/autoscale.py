"""AutoScale / DDO policy: per-domain perturbation runs at two step budgets, extrapolated to the target."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.autoscale import AutoScale
from bomix.policies.laws.base import OBJ, LawPolicy
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture


class AutoScalePolicy(LawPolicy):
    """Kang et al. 2025.

    Mapping of "domain i at x times n with the others at n" to a mixture at fixed steps: the base run is
    uniform and a perturbation has weights proportional to ``(1, .., x, .., 1)``, i.e.
    ``w_i = x / (K - 1 + x)``; the law's data variable is ``K w_i`` (domain i's data relative to the base
    at the same steps).

    Design at ``scale`` (default the smallest): the base plus ``2K`` perturbations (``factors``, default
    1/3 and 3) at two step budgets ``t2`` (default the largest grid step <= target/2) and
    ``t1 = t2**2 / T`` (so that AutoScale's ``N3 = N2**2 / N1`` lands on the target steps ``T``; on a grid,
    the nearest answered steps, and no ``t1`` level when that is ``t2``'s); ``t2`` is run first. When the
    design costs more than the budget, the unset ones of ``scale`` / ``t2`` are sized to it (``t2 <= T/2``,
    :meth:`~bomix.policies.laws.base.LawPolicy.sized_design`). Recommend: the DDO optimum at each budget
    (``w1``, ``w2``), extrapolated as ``w3 ~ (w2 t2)**2 / (w1 t1)``; with only ``t2`` available, its DDO
    optimum.
    """

    name = "autoscale"
    min_runs = 3

    def __init__(self, factors=(1 / 3, 3.0), scale: str | None = None, steps: int | None = None, n_starts: int = 128):
        self.factors = tuple(float(f) for f in factors)
        if len(self.factors) < 2 or any(f <= 0 or f == 1 for f in self.factors):
            raise BomixError("autoscale needs >= 2 factors, each > 0 and != 1")
        self.scale_name, self.steps, self.n_starts = scale, steps, int(n_starts)

    def bind(self, problem, seed):
        super().bind(problem, seed)
        self._levels: tuple[int, int | None] | None = None  # set by design (the sized t2 and its t1)

    def levels(self) -> tuple[int, int | None]:
        """``(t2, t1)`` of the design (``t1`` None when there is no second level)."""
        if self._levels is None:
            self.design()
        return self._levels

    def _published_t2(self) -> int:
        sp = self.space
        T = sp.target.steps
        return self.steps if self.steps is not None else max([g for g in sp.step_grid if g <= T // 2] or [sp.min_steps])

    def _levels_at(self, scale: str, t2: int) -> tuple[int, int | None]:
        """``t2`` and ``t1 = t2**2 / T`` at ``scale``, each the nearest answered steps there (a configured ``t2``
        must be answered: :meth:`spec`); ``t1`` None when it is not above ``min_steps`` or lands on ``t2``."""
        sp = self.space
        t1 = int(round(t2**2 / sp.target.steps))
        t2, t1 = (t if t is None or sp.allows(Fidelity(scale, t)) or self._steps_explicit and t == t2
                  else self.problem.proposals.snap_fidelity(scale, t).steps
                  for t in (t2, t1 if sp.min_steps <= t1 < t2 else None))
        return int(t2), (int(t1) if t1 is not None and t1 < t2 else None)

    def design(self) -> list[RunSpec]:
        K = self.space.k
        scale = self.default_scale(self.scale_name)
        t2 = self.steps_or(self.steps, self._published_t2())
        W = [np.full(K, 1.0 / K)]
        for i in range(K):
            for x in self.factors:
                c = np.ones(K)
                c[i] = x
                W.append(c / c.sum())

        def make(sc, t2):
            return [self.spec(w, sc, t, f"autoscale@{t}") for t in self._levels_at(sc, t2) if t for w in W]

        specs = self.sized_design(make, (scale, t2), self.fidelity_choices(self.scale_name, self.steps,
                                                                           max_steps=self.space.target.steps // 2))
        info = self._design_info
        self._levels = self._levels_at(info["scale"], info["steps"])
        return specs

    def fit_law(self, table):
        t2, t1 = self.levels()
        laws = {t2: AutoScale.fit(table, OBJ, step=t2, n_starts=self.n_starts, seed=self.seed)}
        if t1 and (table["step"] == t1).any() and len(table[table["step"] == t1]["run_id"].unique()) >= 1 + 2 * self.space.k:
            laws[t1] = AutoScale.fit(table, OBJ, step=t1, n_starts=self.n_starts, seed=self.seed)
        return laws

    def law_optimum(self, laws) -> Mixture:
        lo, up = self.bounds()
        t2, t1 = self.levels()
        w2 = laws[t2].optimum(lower=lo, upper=up).weights
        if t1 not in laws:
            return Mixture(w2, self.space.domains)
        w1 = laws[t1].optimum(lower=lo, upper=up).weights
        n3 = AutoScale.extrapolate(np.clip(w1 * t1, 1e-12, None), w2 * t2)
        return Mixture(n3 / n3.sum(), self.space.domains)

    def law_score(self, laws, W):
        t2, _ = self.levels()
        return laws[t2].predict_total(W)
