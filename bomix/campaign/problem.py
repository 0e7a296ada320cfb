"""The policy-facing problem of a campaign: the backend's space with the problem's constraints applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bomix.backends.base import Backend
from bomix.constraints import parse_constraints
from bomix.objective import Objective
from bomix.policies.base import Problem
from bomix.proposals import Proposals
from bomix.space import Space


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
    """

    objective: Any = None
    lower: Mapping[str, float] | None = None
    upper: Mapping[str, float] | None = None
    max_epochs: float | None = None
    tokens: Mapping[str, float] | None = None
    constraints: Any = None


def build_problem(backend: Backend, cfg: ProblemConfig | None = None) -> Problem:
    """The policy-facing problem: the backend's space with the problem's constraints applied."""
    cfg = cfg or ProblemConfig()
    space: Space = backend.space.with_constraints(
        lower=cfg.lower, upper=cfg.upper, max_epochs=cfg.max_epochs, tokens=cfg.tokens)
    objective = Objective.from_config(cfg.objective, backend.metrics, backend.default_objective)
    constraints = parse_constraints(cfg.constraints, backend.metrics, objective)
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
    )
