"""D-CPT policy: a domain share ``r`` against a fixed general blend, law in (N, D, r)."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.dcpt import DCPTLaw, dcpt_optimum_ratio
from bomix.policies.laws.base import OBJ, LawPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture


class DCPTPolicy(LawPolicy):
    """Que et al. 2024, mapped to K domains: ``w(r) = r e_domain + (1 - r) g`` with ``g`` uniform over the
    other domains (the "general" source). Design: ``ratios`` x the ``n_scales`` smallest scales below the
    target, for ``steps`` (default ``max_steps // 4``, unset: sized to the budget when the design costs more;
    every checkpoint used). Fit: the law of the
    objective in ``(N, D, r)``; with ``general_metric`` a second law caps the relative general-loss
    degradation at ``cap``. Recommend: the best ``r`` at the target ``(N, D)``.

    Args:
        domain: the domain source (default: the first domain).
    """

    name = "dcpt"
    min_runs = 4

    def __init__(self, domain: str | None = None, ratios=(0.05, 0.15, 0.3, 0.5, 0.7, 0.9), n_scales: int = 2,
                 steps: int | None = None, general_metric: str | None = None, cap: float = 0.03,
                 n_starts: int = 256):
        self.ratios = tuple(float(r) for r in ratios)
        if len(self.ratios) < 3 or not all(0 <= r <= 1 for r in self.ratios):
            raise BomixError("dcpt needs >= 3 ratios in [0, 1]")
        self.domain, self.n_scales, self.steps = domain, int(n_scales), steps
        self.general_metric, self.cap, self.n_starts = general_metric, float(cap), int(n_starts)

    def bind(self, problem, seed):
        super().bind(problem, seed)
        d = self.domain or self.space.domains[0]
        if d not in self.space.domains:
            raise BomixError(f"dcpt domain {d!r} is not one of {list(self.space.domains)}")
        self._j = self.space.domains.index(d)
        if self.general_metric is not None and self.general_metric not in problem.metrics:
            raise BomixError(f"dcpt general_metric {self.general_metric!r} is not a backend metric")
        g = np.ones(self.space.k)
        g[self._j] = 0
        self._g = g / g.sum()

    def w_of(self, r) -> np.ndarray:
        e = np.zeros(self.space.k)
        e[self._j] = 1
        return np.outer(np.atleast_1d(r), e) + np.outer(1 - np.atleast_1d(r), self._g)

    def design(self) -> list[RunSpec]:
        sp = self.space
        scales = self.proxy_scales()[: self.n_scales]
        steps = self.steps_or(self.steps, max(sp.min_steps, sp.max_steps // 4))
        W = self.w_of(self.ratios)
        return self.sized_design(lambda _, st: [self.spec(w, s, st, "dcpt") for w in W for s in scales],
                                 (None, steps), self.step_choices(scales, self.steps))

    def fit_law(self, table):
        d, tps = self.space.domains[self._j], self.space.tokens_per_step or 1.0
        law = DCPTLaw.fit(table, d, OBJ, tokens_per_step=tps, n_starts=self.n_starts, seed=self.seed)
        gen = None
        if self.general_metric:
            gen = DCPTLaw.fit(table, d, self.general_metric, tokens_per_step=tps, n_starts=self.n_starts,
                              seed=self.seed)
        return law, gen

    def _target_nd(self):
        t = self.space.target
        return self.space.scale(t.scale).params, t.steps * (self.space.tokens_per_step or 1.0)

    def law_optimum(self, laws) -> Mixture:
        N, D = self._target_nd()
        lo, up = self.bounds()
        r = dcpt_optimum_ratio(laws[0], laws[1], N, D, cap=self.cap, r_min=float(lo[self._j]),
                               r_max=float(up[self._j]))
        return Mixture(self.w_of(r)[0], self.space.domains)

    def law_score(self, laws, W):
        N, D = self._target_nd()
        return laws[0].predict(W[:, self._j], N, D)
