"""The policy-facing problem of a campaign: the backend's space with the problem's constraints applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bomix.backends.base import Backend
from bomix.constraints import parse_constraints
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.policies.base import Problem
from bomix.proposals import Proposals
from bomix.space import Space
from bomix.tradeoff import parse_objectives, parse_preference


@dataclass
class ProblemConfig:
    """Problem-level settings applied on top of the backend's space.

    Attributes:
        objective: ``None`` (backend default), a metric name or an objective mapping
            (see :meth:`Objective.from_config`).
        lower / upper: per-domain weight bounds (domain -> bound).
        max_epochs: repetition cap.
        tokens: per-domain token counts (for ``proportional`` and the cap).
        constraints: outcome constraints on the recommendation's metrics at the target, a list of
            ``{metric: m, max | min | max_relative | min_relative: x, reference: r}`` (see :mod:`bomix.constraints`).
        phases: a run trained on a schedule of mixtures, ``[{name: pretrain, fraction: 0.8}, {name: anneal,
            fraction: [0.1, 0.3]}]`` (see :mod:`bomix.phases`); the bounds and the cap then apply to the whole run.
        objectives: a trade-off between 2-4 named objectives, ``[{name: code, maximize: "task:0"}, {name: web,
            metric: "task:1"}]`` (see :mod:`bomix.tradeoff`); ``policy=mobo`` models them, every campaign reports
            its front. ``preference``: objective name -> weight, which member of the Pareto set to recommend.
    """

    objective: Any = None
    lower: Mapping[str, float] | None = None
    upper: Mapping[str, float] | None = None
    max_epochs: float | None = None
    tokens: Mapping[str, float] | None = None
    constraints: Any = None
    phases: Any = None
    objectives: Any = None
    preference: Any = None


def phased_backend(backend: Backend, cfg: ProblemConfig | None) -> Backend:
    """``backend`` wrapped to run the problem's phases (:class:`bomix.backends.phased.PhasedBackend`), or itself
    when the problem has none (or it is wrapped already)."""
    from bomix.backends.phased import PhasedBackend
    from bomix.phases import Phases

    phases = Phases.from_config(cfg.phases if cfg is not None else None)
    if phases is None:
        return backend
    if isinstance(backend, PhasedBackend):
        if backend.phases != phases:
            raise BomixError("the backend runs other phases than problem.phases: build it from the same config")
        return backend
    return PhasedBackend(backend, phases)


def build_problem(backend: Backend, cfg: ProblemConfig | None = None) -> Problem:
    """The policy-facing problem: the backend's space with the problem's constraints applied."""
    cfg = cfg or ProblemConfig()
    backend = phased_backend(backend, cfg)
    space: Space = backend.space.with_constraints(
        lower=cfg.lower, upper=cfg.upper, max_epochs=cfg.max_epochs, tokens=cfg.tokens)
    objective = Objective.from_config(cfg.objective, backend.metrics, backend.default_objective)
    constraints = parse_constraints(cfg.constraints, backend.metrics, objective)
    objectives = parse_objectives(cfg.objectives, backend.metrics)
    preference = parse_preference(cfg.preference, objectives)
    return Problem(
        space=space,
        objective=objective,
        cost=backend.cost_model,
        supports_schedule=backend.supports_schedule,
        supports_continuation=backend.supports_continuation,
        supports_controller=backend.supports_controller,
        metrics=tuple(backend.metrics),
        proposals=Proposals(space, backend.candidates(), backend.trust_region()),
        constraints=constraints,
        objectives=objectives,
        preference=preference,
    )
