"""What defines a study (stored in its store's meta under ``study``) and how it becomes a Problem + Policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bomix.config import check_data, registered
from bomix.constraints import parse_constraints
from bomix.cost import FlopsCost, TableCost
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.phases import Phases, phased
from bomix.policies.base import Policy, Problem
from bomix.space import Fidelity, Scale, Space
from bomix.tradeoff import parse_objectives, parse_preference


@dataclass
class StudyConfig:
    """Everything that defines a study's results (JSON-able; checked when a study is re-created).

    Attributes:
        domains: training-domain names, the mixture order.
        ladder: scale name -> parameter count (e.g. ``{"20M": 2e7, "1B": 1e9}``).
        steps: the step counts a run may ask for (one int, or the grid: min = first, max = last).
        objective: a metric name, or an objective mapping (``{"mean": [...]}``, ``{"maximize": "acc"}``;
            see :meth:`bomix.objective.Objective.from_config`).
        policy: a policy name of ``conf/policy`` (e.g. ``"mfbo"``, ``"random"``) or a mapping with
            ``name`` and options (``{"name": "random", "alpha": 0.5}``).
        seed: policy randomness and run seeds.
        target: ``(scale, steps)`` to recommend for; default the largest scale at the largest steps.
        metrics: metric names a run reports (default: the objective's and the constraints').
        cost_per_step: scale -> cost of one step (any unit); default ``6 * params * tokens_per_step``.
        tokens_per_step: tokens per step (FLOPs cost and the repetition cap).
        lower / upper / tokens / max_epochs: constraints of the space (see :class:`bomix.space.Space`).
        continuation: whether your script can continue a shorter run (``resume_from``); with ``phases``: whether
            it can start a run from another run's checkpoint at a phase boundary (a *branch*, see
            :mod:`bomix.campaign.branches`: a trial sharing a finished run's schedule up to ``resume_step``).
        constraints: outcome constraints on the recommendation's metrics at the target (a list of
            ``{metric, max | min | max_relative | min_relative, reference}``; see :mod:`bomix.constraints`).
        phases: a run trained on a schedule of mixtures, ``[{name, fraction: f or [lo, hi]}, ...]``
            (:mod:`bomix.phases`): each trial then carries its ``schedule``.
        objectives / preference: a trade-off between 2-4 named objectives, ``[{name: code, maximize: "acc"},
            {name: web, metric: "web_loss"}]``, and the weights that pick one member of their Pareto set
            (:mod:`bomix.tradeoff`); ``policy="mobo"`` models them, every study reports its Pareto set.
    """

    domains: list[str]
    ladder: dict[str, float]
    steps: list[int]
    objective: Any
    policy: dict[str, Any] = field(default_factory=lambda: {"name": "mfbo"})
    seed: int = 0
    target: list | None = None
    metrics: list[str] | None = None
    cost_per_step: dict[str, float] | None = None
    tokens_per_step: float | None = None
    lower: dict[str, float] | None = None
    upper: dict[str, float] | None = None
    tokens: dict[str, float] | None = None
    max_epochs: float | None = None
    continuation: bool = False
    constraints: list[dict[str, Any]] | None = None
    phases: list[dict[str, Any]] | None = None
    objectives: list[dict[str, Any]] | None = None
    preference: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise BomixError(f"a study's seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.continuation, bool):
            raise BomixError(f"continuation must be true or false, got {self.continuation!r}")

    @classmethod
    def make(cls, domains: Sequence[str], ladder: Mapping[str, float], objective: Any, *,
             steps: int | Sequence[int], policy: str | Mapping[str, Any] = "mfbo", **kw: Any) -> "StudyConfig":
        """Normalise user arguments (a policy name, a single step count) into a config."""
        if isinstance(policy, str):
            policy = {"name": policy}
        elif isinstance(policy, Mapping):
            policy = dict(policy)
        else:
            raise BomixError(f"policy must be a name or a mapping, got {type(policy).__name__}")
        check_policy(policy)
        if not isinstance(ladder, Mapping) or not ladder:
            raise BomixError("ladder must map scale names to parameter counts, e.g. {'20M': 2e7, '1B': 1e9}")
        if isinstance(steps, int):
            steps = [steps]
        try:
            step_list = sorted({int(s) for s in steps})
        except (TypeError, ValueError):
            raise BomixError(f"steps must be an int or a list of ints, got {steps!r}") from None
        if not step_list:
            raise BomixError("steps is empty: give the training steps of a run, e.g. steps=1000")
        target = kw.pop("target", None)
        if target is not None:
            if isinstance(target, Fidelity):
                target = [target.scale, target.steps]
            target = [str(target[0]), int(target[1])]
        objective = objective if isinstance(objective, str) or objective is None else dict(objective)
        for key in ("constraints", "phases", "objectives"):  # stored as JSON: plain lists and dicts
            v = kw.get(key)
            if isinstance(v, Sequence) and not isinstance(v, str):
                kw[key] = [dict(c) if isinstance(c, Mapping) else c for c in v]
        if isinstance(kw.get("preference"), Mapping):
            kw["preference"] = dict(kw["preference"])
        cfg = cls(domains=[str(d) for d in domains], ladder={str(k): float(v) for k, v in ladder.items()},
                  steps=step_list, objective=objective, policy=policy, target=target, **kw)
        cfg.build_problem()  # validates everything before anything is written
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudyConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise BomixError(f"study config has unknown key(s) {unknown}: made by a newer bomix? upgrade bomix")
        check_data(dict(d), "the stored study config")
        check_policy(d.get("policy"))
        return cls(**dict(d))

    @property
    def branching(self) -> bool:
        """Whether the user's script continues runs as branches at phase boundaries (``continuation`` with
        ``phases``); a phased study offers no other continuation."""
        return bool(self.continuation and self.phases)

    def space(self) -> Space:
        """The study's space (a :class:`bomix.phases.PhasedSpace` when ``phases`` is set)."""
        return phased(self._space(), Phases.from_config(self.phases))

    def _space(self) -> Space:
        return Space(
            domains=tuple(self.domains), scales=[Scale(n, p) for n, p in self.ladder.items()],
            min_steps=self.steps[0], max_steps=self.steps[-1],
            target=None if self.target is None else Fidelity(self.target[0], int(self.target[1])),
            step_grid=tuple(self.steps), lower=self.lower, upper=self.upper, tokens=self.tokens,
            max_epochs=self.max_epochs, tokens_per_step=self.tokens_per_step)

    def build_problem(self) -> Problem:
        """The policy-facing problem (validates domains, ladder, steps, objective and constraints)."""
        space = self.space()
        objective = Objective.from_config(self.objective, None, None)
        constraints = parse_constraints(self.constraints, self.metrics, objective)
        objectives = parse_objectives(self.objectives, self.metrics)
        preference = parse_preference(self.preference, objectives)
        metrics = tuple(self.metrics) if self.metrics else tuple(dict.fromkeys(
            objective.metrics + [c.metric for c in constraints] + [m for o in objectives for m in o.metrics]))
        missing = [m for m in objective.metrics if m not in metrics]
        if missing:
            raise BomixError(f"the objective uses metric(s) {missing} that are not in metrics={list(metrics)}")
        cost = TableCost(space, self.cost_per_step) if self.cost_per_step else FlopsCost(space, self.tokens_per_step)
        return Problem(space=space, objective=objective, cost=cost, supports_schedule=False,
                       supports_continuation=self.continuation and not self.branching, candidates=None, metrics=metrics,
                       constraints=constraints, objectives=objectives, preference=preference)

    def build_policy(self) -> Policy:
        """Instantiate the policy from its ``conf/policy/<name>.yaml`` defaults plus this config's options."""
        return build_policy(self.policy)


def build_policy(policy: Mapping[str, Any]) -> Policy:
    """A policy from ``{"name": <registered name>, **plain options}`` (checked by :func:`check_policy`): its
    ``conf/policy/<name>.yaml`` defaults merged with the options (a study's policy, ``bomix suggest --method``)."""
    from omegaconf import OmegaConf

    from bomix.config import instantiate
    from bomix.paths import conf_dir

    opts = dict(policy)
    name = check_policy(opts)
    opts.pop("name")
    node = OmegaConf.merge(OmegaConf.load(conf_dir() / "policy" / f"{name}.yaml"), opts)
    built = instantiate(node, "policy")
    built.name = name
    return built


def check_policy(policy: Any) -> str:
    """A study's policy setting is ``{"name": <a registered policy>, **plain options}``; returns the name.

    It is stored in the study's store and read back by every worker, so it is data: no ``_target_`` or
    other Hydra key at any depth, and the name must be one of ``conf/policy`` (never a path).

    Raises:
        BomixError: one line saying what is wrong.
    """
    if not isinstance(policy, Mapping) or "name" not in policy:
        raise BomixError("a policy mapping needs a name, e.g. {'name': 'random', 'alpha': 0.5}")
    check_data(dict(policy), "policy")
    name, known = policy["name"], registered("policy")
    if not isinstance(name, str) or name not in known:
        raise BomixError(f"unknown policy {name!r}: choose one of {', '.join(sorted(known))}")
    return name
