"""RegMix policy: many small runs on Dirichlet mixtures around the token prior, one regressor."""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.laws.regmix import RegMix, design_prior, sample_design
from bomix.policies.laws.base import OBJ, LawPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture


class RegMixPolicy(LawPolicy):
    """Liu et al. 2024.

    Design: ``n_runs`` mixtures ``w ~ Dir(s * p)`` (``p`` = token shares ** 0.5, uniform without token
    counts; ``s`` from 15 log-spaced values in [0.1, 5]; ``w_i <= 15 p_i``; tiny weights zeroed),
    projected onto the bounds, at ``scale`` (default the smallest) for ``steps`` (default the largest
    grid step at that scale: the target steps on a full grid, 1000 on RegMix's logged 1M runs); when those
    ``n_runs`` cost more than the budget, the unset ones of ``scale`` / ``steps`` are sized to it
    (:meth:`~bomix.policies.laws.base.LawPolicy.sized_design`). Fit: one LightGBM regressor (or linear,
    ``kind: linear``) of the objective with early stopping on a held-out split. Recommend: mean of the
    ``top_k`` best of ``n_samples`` Dir(p) draws. The regression has no scale or step input: it assumes the
    ranking transfers to the target.
    """

    name = "regmix"
    min_runs = 5
    searches_phases = True

    def __init__(self, n_runs: int = 32, scale: str | None = None, steps: int | None = None,
                 kind: str = "lightgbm", top_k: int = 128, n_samples: int = 100_000):
        if n_runs < 5 or top_k < 1 or n_samples < top_k:
            raise BomixError("regmix needs n_runs >= 5 and 1 <= top_k <= n_samples")
        if kind not in ("lightgbm", "linear"):
            raise BomixError(f"regmix kind must be lightgbm or linear, got {kind!r}")
        self.n_runs, self.scale_name, self.steps, self.kind = int(n_runs), scale, steps, kind
        self.top_k, self.n_samples = int(top_k), int(n_samples)
        if kind == "linear":
            self.name = "regmix_linear"

    def bind(self, problem, seed: int) -> None:
        if self.kind == "lightgbm":  # fail in one line before the first run, not after the design
            from bomix.extras import require

            require("lightgbm", "lightgbm", "policy=regmix")  # (policy=regmix_linear needs nothing more)
        super().bind(problem, seed)

    def prior(self) -> np.ndarray:
        if self._phased is not None:  # every phase draws around the base domains' prior (phases take the flat vector)
            return design_prior(self._phased.base.tokens, self._phased.base.k)
        return design_prior(self.space.tokens, self.space.k)

    @property
    def _phased(self):
        """The problem's :class:`bomix.phases.PhasedSpace`, or None."""
        return self.space if getattr(self.space, "phases", None) is not None else None

    def _draw(self, n: int, rng: np.random.Generator, draw) -> np.ndarray:
        """``(n, K)`` mixtures from ``draw(n, rng)``; on a phased space one draw per phase, the fractions uniform
        on their ranges, as the concatenated ``(n, P*K)`` points the regressor reads."""
        sp = self._phased
        if sp is None:
            return draw(n, rng)
        W = np.stack([draw(n, rng) for _ in range(sp.n_phases)], axis=1)
        return sp.project(sp.compose(W, sp._sample_fractions(n, rng)), sp.target)

    def design(self) -> list[RunSpec]:
        scale = self.default_scale(self.scale_name)
        steps = self.steps_or(self.steps, self.largest_steps(scale, self.space.target.steps))
        W = self._draw(self.n_runs, self.design_rng(), lambda n, rng: sample_design(n, self.prior(), rng))
        return self.sized_design(lambda sc, st: [self.spec(w, sc, st, self.name) for w in W], (scale, steps),
                                 self.fidelity_choices(self.scale_name, self.steps))

    def fit_law(self, table):
        prior = None if self._phased is not None else self.prior()  # (phased: law_optimum draws per phase)
        return RegMix.fit(table, metrics=[OBJ], kind=self.kind, prior=prior, seed=self.seed)

    def law_optimum(self, law) -> Mixture:
        if self._phased is not None:  # the top-k mean of phased draws (the mean of points of the polytope is one)
            W = self._draw(self.n_samples, np.random.default_rng(self.seed),
                           lambda n, rng: rng.dirichlet(self.prior(), size=n))
            top = np.argsort(law.predict(W, total=True), kind="stable")[: max(1, min(self.top_k, len(W)))]
            return Mixture(self.space.project(W[top].mean(0), self.space.target)[0], self.space.domains)
        lo, up = self.bounds()
        return law.optimum(n_samples=self.n_samples, top_k=self.top_k, seed=self.seed, lower=lo, upper=up)

    def law_score(self, law, W):
        return law.predict(W, total=True)
