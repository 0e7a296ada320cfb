"""Baseline policies: uniform, proportional, fixed (spend nothing) and random search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.policies.base import Policy
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture


class UniformPolicy(Policy):
    """Spends nothing; recommends equal weights (projected onto the bounds)."""

    name = "uniform"
    searches_phases = True
    extrapolates = False

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        return []

    def recommend(self, history: History) -> Mixture:
        return self.space.center()


class ProportionalPolicy(Policy):
    """Spends nothing; weights proportional to each domain's token count (``problem.tokens``)."""

    name = "proportional"
    searches_phases = True
    extrapolates = False

    def __init__(self, tokens: Mapping[str, float] | None = None):
        self.tokens = dict(tokens) if tokens else None

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        if self.tokens is not None:
            tok = problem.space._vector(self.tokens, None, "policy.tokens")
        elif problem.space.tokens is not None:
            tok = problem.space.tokens
        else:
            raise BomixError("proportional needs per-domain token counts: set problem.tokens or policy.tokens")
        self._w = problem.space.project(tok / tok.sum())[0]

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        return []

    def recommend(self, history: History) -> Mixture:
        return Mixture(self._w, self.space.domains)


class FixedPolicy(Policy):
    """Recommends a given mixture; with ``evaluate`` it first trains it once at the target fidelity."""

    name = "fixed"
    searches_phases = True
    extrapolates = False

    def __init__(self, mixture: Mapping[str, float] | Sequence[float] | None = None, evaluate: bool = True):
        if mixture is None:
            raise BomixError("policy=fixed needs a mixture: policy.mixture={domain: weight, ...}")
        self.mixture_cfg = dict(mixture) if isinstance(mixture, Mapping) else list(mixture)
        self.evaluate = bool(evaluate)

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        self._m = problem.space.mixture(self.mixture_cfg)
        problem.space.check_mixture(self._m)

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        if not self.evaluate or history.n_dispatched:
            return []
        t = self.space.target
        return [RunSpec(self._m, t.scale, t.steps, tag="fixed")]

    def recommend(self, history: History) -> Mixture:
        return self._m


class RandomPolicy(Policy):
    """Random search: Dirichlet(``alpha``) mixtures inside the bounds, trained at ``fidelity``
    (default the target); recommends the best observed at that fidelity.

    With a pool backend it samples among the unused pool points at the fidelity (``problem.proposals``).
    """

    name = "random"
    searches_phases = True

    def __init__(self, alpha: float = 1.0, scale: str | None = None, steps: int | None = None):
        if not float(alpha) > 0:
            raise BomixError(f"policy.alpha must be > 0 (Dirichlet concentration), got {alpha}")
        self.alpha = float(alpha)
        self.scale_name, self.steps = scale, steps

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        t = problem.space.target
        self.fid = problem.proposals.check_fidelity(Fidelity(t.scale if self.scale_name is None else self.scale_name,
                                                             int(t.steps if self.steps is None else self.steps)))

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        # the i-th run asked is drawn from its own dispatch index's generator, so the specs depend only on
        # (seed, dispatch index), not on how the executor's finishing order batched the asks
        used, specs = history.all_specs(), []
        for i in range(n):
            ws = self.problem.proposals.sample(1, self.rng(history, ahead=i), self.fid, self.alpha, used=used)
            if not len(ws):
                break
            spec = RunSpec(Mixture(ws[0], self.space.domains), self.fid.scale, self.fid.steps, tag="random")
            used.append(spec)
            specs.append(spec)
        return [s for s in specs if self.fits(s, budget_left)]

    def recommend(self, history: History) -> Mixture:
        obs = history.at_fidelity(self.fid)
        if len(obs) == 0:
            return self.space.center()
        return Mixture(obs.w[int(np.argmin(obs.y))], self.space.domains)
