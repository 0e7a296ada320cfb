"""Li-Liu-Xing transfer-law policy: the 1 + 4K design, law fitted in (mixture, total data)."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.sft import SFTTransferLaw
from bomix.policies.laws.base import OBJ, LawPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture


class SFTLawPolicy(LawPolicy):
    """Li, Liu & Xing 2025.

    Mapping of "domain i at m n with the others at n" (absolute data): the run's mixture is
    ``(1, .., m, .., 1) / (K - 1 + m)`` and its length ``S_b (K - 1 + m) / K`` steps, where the base run
    (uniform, ``n = S_b / K`` steps of data per domain) has ``S_b`` steps, the largest that lets the
    ``3n`` runs fit under ``max_steps``. ``N0`` = steps / ``S_b`` (data in base-run units). Design at
    ``scale`` (default the smallest): base, then per multiple (3, 1/3, 2, 1/2) every domain. When it costs
    more than the budget, ``S_b`` (and an unset ``scale``) are sized to it: the candidates put the longest
    run on an answered step count (:meth:`~bomix.policies.laws.base.LawPolicy.sized_design`; the design's
    ``steps`` is ``S_b``).
    Fit: per-domain losses when the objective is a mean of domain losses, else the aggregate law on the
    objective. Recommend: SLSQP optimum at ``N0 = T / S_b`` (T = target steps).
    """

    name = "sft_law"
    min_runs = 5

    def __init__(self, multiples=(3.0, 1 / 3, 2.0, 0.5), scale: str | None = None, n_starts: int = 128,
                 domain_metrics: dict[str, str] | None = None):
        self.multiples = tuple(float(m) for m in multiples)
        if not self.multiples or any(m <= 0 or m == 1 for m in self.multiples):
            raise BomixError("sft_law multiples must be > 0 and != 1")
        self.scale_name, self.n_starts = scale, int(n_starts)
        self._given_metrics = dict(domain_metrics) if domain_metrics else None

    def bind(self, problem, seed):
        super().bind(problem, seed)
        K = self.space.k
        hi = max(self.multiples + (1.0,))
        self.base_steps = self._published_base = int(self.space.max_steps * K / (K - 1 + hi))
        lo = min(self.multiples + (1.0,))
        if self.base_steps * (K - 1 + lo) / K < self.space.min_steps:
            raise BomixError("sft_law: the step range is too narrow for the design's multiples")
        self._mm = self.domain_metrics()

    def design(self) -> list[RunSpec]:
        K = self.space.k
        scale = self.default_scale(self.scale_name)

        def make(sc, base):
            specs = [self.spec(np.full(K, 1 / K), sc, base, "sft")]
            for m in self.multiples:
                for i in range(K):
                    c = np.ones(K)
                    c[i] = m
                    specs.append(self.spec(c / c.sum(), sc, round(base * c.sum() / K), "sft"))
            return specs

        hi, lo = max(self.multiples + (1.0,)), min(self.multiples + (1.0,))
        choices = [(sc, int(g * K / (K - 1 + hi))) for sc, g in self.fidelity_choices(self.scale_name, None) or []]
        choices = [(sc, b) for sc, b in choices if b * (K - 1 + lo) / K >= self.space.min_steps]
        specs = self.sized_design(make, (scale, self._published_base), choices)
        self.base_steps = int(self._design_info["steps"])
        return specs

    def fit_law(self, table):
        kw = dict(n0_per_step=1.0 / self.base_steps, n_starts=self.n_starts, seed=self.seed)
        if self._mm is not None:
            return SFTTransferLaw.fit(table, metrics=[self._mm[d] for d in self.space.domains], **kw)
        return SFTTransferLaw.fit(table, aggregate=OBJ, **kw)

    def _weights(self, law):
        if law.metrics is None:
            return None
        w = self.problem.objective.coefficients()[0]  # its weights, over |reference| when normalised
        return np.array([w.get(m, 0.0) for m in law.metrics])

    def law_optimum(self, law) -> Mixture:
        lo, up = self.bounds()
        return law.optimum(self.space.target.steps / self.base_steps, weights=self._weights(law), lower=lo, upper=up)

    def law_score(self, law, W):
        return law.predict_total(W, self.space.target.steps / self.base_steps, weights=self._weights(law))
