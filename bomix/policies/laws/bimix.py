"""BiMix policy: per-domain laws in (own proportion, steps), closed-form optimum at the target steps."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.bimix import BiMix
from bomix.policies.laws.base import LawPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture


class BiMixPolicy(LawPolicy):
    """Ge et al. 2024.

    Design: the centre plus ``n_mixtures - 1`` Dirichlet mixtures blended 20% with the centre (every
    ``r_i > 0``), at ``scale`` (default the smallest) for ``steps`` (default ``max_steps // 2``; unset ones
    sized to the budget when the design costs more, see :meth:`~bomix.policies.laws.base.LawPolicy.sized_design`);
    every checkpoint is a data point. Fit: one law per domain on that domain's own loss (``loss:<domain>``, or
    the metric ``domain_metrics`` maps it to).
    Recommend: minimiser of the sum of domain losses at the target steps, weighted by the objective
    when it is a mean of domain losses (else equal weights, logged). BiMix has no scale term.
    """

    name = "bimix"
    min_runs = 3

    def __init__(self, n_mixtures: int = 10, scale: str | None = None, steps: int | None = None, n_starts: int = 128,
                 domain_metrics: dict[str, str] | None = None):
        if n_mixtures < 3:
            raise BomixError("bimix needs n_mixtures >= 3")
        self.n_mixtures, self.scale_name, self.steps, self.n_starts = int(n_mixtures), scale, steps, int(n_starts)
        self._given_metrics = dict(domain_metrics) if domain_metrics else None

    def bind(self, problem, seed):
        super().bind(problem, seed)
        mm = self.domain_metrics()
        self._metrics = self.metric_map()
        if len(self._metrics) < self.space.k:
            missing = [d for d in self.space.domains if d not in self._metrics]
            raise BomixError(f"bimix needs a per-domain loss metric for every domain, none found for {missing}: "
                             "name them loss:<domain> or set policy.domain_metrics={domain: metric, ...}")
        if mm is not None:
            w = problem.objective.coefficients()[0]  # its weights, over |reference| when normalised
            self._weights = np.array([w.get(self._metrics[d], 0.0) for d in self.space.domains])
        else:
            self.log.info("bimix: objective %s is not a mean of domain losses; minimising their sum",
                          problem.objective.name)
            self._weights = np.ones(self.space.k)

    def design(self) -> list[RunSpec]:
        sp = self.space
        scale = self.default_scale(self.scale_name)
        steps = self.steps_or(self.steps, max(sp.min_steps, sp.max_steps // 2))
        c = sp.center().weights
        W = np.vstack([c, 0.8 * sp.sample(self.n_mixtures - 1, self.design_rng()) + 0.2 * c])
        return self.sized_design(lambda sc, st: [self.spec(w, sc, st, "bimix") for w in W], (scale, steps),
                                 self.fidelity_choices(self.scale_name, self.steps))

    def fit_law(self, table):
        return BiMix.fit(table, metrics={d: self._metrics[d] for d in self.space.domains},
                         n_starts=self.n_starts, seed=self.seed)

    def law_optimum(self, law) -> Mixture:
        lo, up = self.bounds()
        return law.optimum(self.space.target.steps, weights=self._weights, lower=lo, upper=up)

    def law_score(self, law, W):
        return law.predict(np.clip(W, 1e-9, None), self.space.target.steps) @ self._weights
