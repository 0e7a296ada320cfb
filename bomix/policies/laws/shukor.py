"""Shukor et al. 2025 policy: small runs over mixtures x scales, additive law, scale-free optimum."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.shukor import ShukorLaw
from bomix.policies.laws.base import OBJ, LawPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture


class ShukorPolicy(LawPolicy):
    """Design: the centre plus ``n_mixtures - 1`` Dirichlet mixtures blended 10% with the centre, at the
    ``n_scales`` smallest scales below the target for ``steps`` (default ``max_steps // 4``; unset, sized to
    the budget when the design costs more), mixture by mixture; every checkpoint after the first is a data
    point (``D = step * tokens_per_step``). Recommend: the mixture term's optimum (the law's optimum is the
    same at every scale)."""

    name = "shukor"
    min_runs = 4

    def __init__(self, n_mixtures: int = 12, n_scales: int = 3, steps: int | None = None, n_starts: int = 256):
        if n_mixtures < 3 or n_scales < 1:
            raise BomixError("shukor needs n_mixtures >= 3 and n_scales >= 1")
        self.n_mixtures, self.n_scales, self.steps, self.n_starts = int(n_mixtures), int(n_scales), steps, int(n_starts)

    def design(self) -> list[RunSpec]:
        sp = self.space
        scales = self.proxy_scales()[: self.n_scales]
        steps = self.steps_or(self.steps, max(sp.min_steps, sp.max_steps // 4))
        c = sp.center().weights
        W = np.vstack([c, 0.9 * sp.sample(self.n_mixtures - 1, self.design_rng()) + 0.1 * c])
        return self.sized_design(lambda _, st: [self.spec(w, s, st, "shukor") for w in W for s in scales],
                                 (None, steps), self.step_choices(scales, self.steps))

    def fit_law(self, table):
        first = table.groupby("run_id")["step"].transform("min")
        t = table[table["step"] > first] if (table["step"] > first).sum() >= 10 else table
        return ShukorLaw.fit(t, OBJ, tokens_per_step=self.space.tokens_per_step or 1.0,
                             n_starts=self.n_starts, seed=self.seed)

    def law_optimum(self, law) -> Mixture:
        lo, up = self.bounds()
        return law.optimum(lower=lo, upper=up)

    def law_score(self, law, W):
        return law.mixture_term(W)
