"""Data Mixing Laws policy: small runs at several small scales, nested step/size extrapolation."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.dml import MixingLaw, nested_extrapolate
from bomix.policies.laws.base import OBJ, LawPolicy
from bomix.runs import RunSpec
from bomix.runtable import mcol, mcols
from bomix.space import Mixture


class DMLPolicy(LawPolicy):
    """Ye et al. 2024 pipeline.

    Design: the centre plus ``n_mixtures - 1`` Dirichlet mixtures, each trained at the ``n_scales``
    smallest scales below the target for ``steps`` (default ``max_steps // 4``; unset, sized to the budget
    when the design costs more: :meth:`~bomix.policies.laws.base.LawPolicy.sized_design`), ordered mixture
    by mixture. Fit: per run a step law on its checkpoints predicts the target steps; per mixture a size
    law across the scales predicts the target scale; the mixing law is fitted on those predictions
    and its optimum recommended (see :meth:`fit_law`).

    Args:
        n_mixtures: mixtures in the design; n_scales: small scales per mixture; steps: run length.
        alpha: Dirichlet concentration of the design; n_starts: mixing-law fit starts.
        domain_metrics: domain -> its own loss metric, for tables not naming them ``loss:<domain>``.
    """

    name = "dml"

    def __init__(self, n_mixtures: int = 16, n_scales: int = 3, steps: int | None = None, alpha: float = 1.0,
                 n_starts: int = 500, domain_metrics: dict[str, str] | None = None):
        if n_mixtures < 3 or n_scales < 1 or alpha <= 0:
            raise BomixError("dml needs n_mixtures >= 3, n_scales >= 1 and alpha > 0")
        self.n_mixtures, self.n_scales, self.steps, self.alpha = int(n_mixtures), int(n_scales), steps, float(alpha)
        self.n_starts = int(n_starts)
        self._given_metrics = dict(domain_metrics) if domain_metrics else None

    def design(self) -> list[RunSpec]:
        sp = self.space
        scales = self.proxy_scales()[: self.n_scales]
        steps = self.steps_or(self.steps, max(sp.min_steps, sp.max_steps // 4))
        W = np.vstack([sp.center().weights, sp.sample(self.n_mixtures - 1, self.design_rng(), self.alpha)])
        return self.sized_design(lambda _, st: [self.spec(w, s, st, "dml") for w in W for s in scales],
                                 (None, steps), self.step_choices(scales, self.steps))

    def fit_law(self, table):
        """Per-domain laws when every domain has its own loss metric (validation weights ``v >= 0`` of
        the objective on them by non-negative least squares on the extrapolated table), else one law
        of the objective."""
        from scipy.optimize import nnls

        t = self.space.target
        mm = self.metric_map()
        metrics = [mm[d] for d in self.space.domains] if len(mm) == self.space.k else []
        ext = nested_extrapolate(table, t.steps, self.space.scale(t.scale).params, metrics=metrics + [OBJ],
                                 cache=self._cache.setdefault("step_laws", {}))
        if not metrics:
            return MixingLaw.fit(ext, metrics=[OBJ], n_starts=self.n_starts, seed=self.seed)
        L = ext[mcols(metrics)].to_numpy()
        v, _ = nnls(np.column_stack([L, np.ones(len(L))]), ext[mcol(OBJ)].to_numpy())
        if v[:-1].sum() <= 0:
            return MixingLaw.fit(ext, metrics=[OBJ], n_starts=self.n_starts, seed=self.seed)
        return MixingLaw.fit(ext, metrics=metrics, metric_weights=v[:-1] / v[:-1].sum(), n_starts=self.n_starts,
                             seed=self.seed)

    def law_optimum(self, law) -> Mixture:
        lo, up = self.bounds()
        return law.optimum(lower=lo, upper=up)

    def law_score(self, law, W):
        return law.predict(W, total=True)
