"""The Policy seam (ask/tell through the history) and the problem it is bound to."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from bomix.constraints import OutcomeConstraint
from bomix.cost import BUDGET_EPS, CostModel
from bomix.errors import BomixError
from bomix.history import History
from bomix.objective import Objective
from bomix.proposals import Proposals
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture, Space

log = logging.getLogger("bomix.policies")


@dataclass
class Problem:
    """What a policy may know: never the simulator's ground truth.

    Attributes:
        space: domains, ladder, bounds, target.
        objective: scalar to minimise.
        cost: cost model in target-run equivalents, ``cost(scale, steps, start=0)``.
        supports_schedule / supports_continuation / supports_controller: backend capabilities.
        candidates: for pool simulators, the only queryable (mixture, fidelity) points (a flat list;
            prefer ``proposals``).
        metrics: metric names a run reports.
        proposals: what may be proposed at each fidelity (grid, pool, trust region); built from
            ``space`` and ``candidates`` when not given (see :mod:`bomix.proposals`).
        constraints: outcome constraints the recommendation should satisfy at the target
            (:mod:`bomix.constraints`); only policies with ``handles_constraints`` model them.
        objectives: the 2-4 named objectives of a trade-off (:mod:`bomix.tradeoff`; ``()``: none); only
            multi-objective policies (``policy=mobo``) model them, the campaign reports every policy's front.
        preference: the trade-off's preference weights, in the objectives' order (``()`` without objectives).
    """

    space: Space
    objective: Objective
    cost: CostModel
    supports_schedule: bool = False
    supports_continuation: bool = False
    supports_controller: bool = False
    candidates: list[tuple[Mixture, Fidelity]] | None = None
    metrics: tuple[str, ...] = field(default_factory=tuple)
    proposals: Proposals | None = None
    constraints: tuple[OutcomeConstraint, ...] = ()
    objectives: tuple[Objective, ...] = ()
    preference: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.proposals is None:
            self.proposals = Proposals(self.space, self.candidates)
        self.candidates = self.proposals.points()


class Policy(ABC):
    """Proposes runs from the history and recommends a mixture for the target fidelity.

    A policy holds only configuration and the bound problem: every decision is a function of
    ``history`` and ``(seed, history.n_dispatched)``, so a resumed campaign rebuilds it exactly.
    """

    name: str = "policy"
    #: what the campaign scores: ``"proxy"`` = the recommended static mixture; ``"target"`` = the policy's
    #: own recipe (:meth:`recipe`, e.g. an online schedule) run at the target
    mode: str = "proxy"
    #: whether the recommendation is inferred from proxy runs (so, without a run at the target fidelity, it
    #: is an extrapolation the campaign warns about); False for a mixture given in advance (uniform, fixed)
    extrapolates: bool = True
    #: whether the latest :meth:`recommend` answer is a numerical fallback (e.g. the best observed run after the
    #: model failed) rather than the policy's own choice. A policy that can fall back sets it in ``recommend``
    #: (its answer for an unchanged history keeps its flag); the campaign stores it with the recommendation
    #: and recomputes a stored fallback when it resumes, so a fallback is never the final answer of a resume.
    recommendation_fallback: bool = False
    #: models the problem's outcome constraints (:meth:`feasibility`); others ignore them (a warning says so)
    handles_constraints: bool = False
    #: searches a multi-phase space (:mod:`bomix.phases`: one point = one schedule, finals only, no continuations)
    searches_phases: bool = False

    def bind(self, problem: Problem, seed: int) -> None:
        """Attach the problem; called once by the campaign before the first ask."""
        name = getattr(self, "name", type(self).__name__)
        if getattr(problem.space, "phases", None) is not None and not self.searches_phases:
            raise BomixError(f"policy {name} cannot search a multi-phase space (problem.phases): use mfbo, sfbo, "
                             "random, regmix, regmix_linear, uniform, proportional or fixed")
        self.problem = problem
        self.seed = int(seed)
        if problem.constraints and not self.handles_constraints:
            log.warning("policy %s ignores the problem's outcome constraints (%s): its recommendation may violate "
                        "them (policy=mfbo models them)", getattr(self, "name", type(self).__name__),
                        ", ".join(c.label for c in problem.constraints))

    @property
    def space(self) -> Space:
        return self.problem.space

    def rng(self, history: History, salt: int = 0, ahead: int = 0) -> np.random.Generator:
        """Deterministic generator for the next decision (same history -> same draws); ``ahead`` = i: the generator
        of the run dispatched i places after the next one (draws keyed by dispatch index, whatever the ask's size)."""
        return np.random.default_rng([self.seed, history.n_dispatched + ahead, salt])

    @abstractmethod
    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        """Up to ``n`` new runs; ``[]`` means the policy is done (pending runs may still finish)."""

    @abstractmethod
    def recommend(self, history: History) -> Mixture:
        """The mixture to train at the target fidelity, given everything observed so far."""

    def diagnostics(self) -> dict:
        """JSON-able facts the campaign copies into summary.json under "policy_info"."""
        return {}

    def n_initial(self, history: History) -> int:
        """Runs of a fixed initial design the policy makes before its first decision (0: none); the campaign warns
        when its ``max_runs`` stops it inside them."""
        return 0

    def fits(self, spec: RunSpec, budget_left: float) -> bool:
        start = spec.start_step
        return self.problem.cost(spec.scale, spec.steps, start) <= budget_left + BUDGET_EPS

    def recipe(self, history: History) -> RunSpec | None:
        """The run to score at the target in ``mode="target"`` (e.g. an online controller's schedule); None
        = score the recommended mixture."""
        return None

    def predict(self, history: "History", mixture: Mixture) -> tuple[float, float] | None:
        """Predicted target-fidelity objective (mean, sd) of ``mixture``; None without a model."""
        return None

    def pareto(self, history: "History") -> list[dict] | None:
        """The policy's predicted Pareto set of target mixtures under the problem's ``objectives``:
        ``[{"mixture": {domain: w}, "predicted": {objective: {"mean", "sd"}}}]``; None for a policy without a
        model of them (the campaign then reports the front of the runs it observed at the target)."""
        return None

    def feasibility(self, history: "History", mixture: Mixture) -> float | None:
        """Predicted probability that ``mixture`` satisfies the problem's outcome constraints at the target; None
        without constraints or without a model of them."""
        return None
