"""Logged runs in, mixture out: a policy bound to the runs' problem, asked what a campaign ending with those runs
would answer.

No fitting of its own: the policy (any of ``conf/policy`` that learns from runs) is built and bound as a
campaign or a study builds it, and called through the Policy seam on the history of the logged runs:
``recommend`` (the mixture), ``predict`` (its target objective, mean +- sd, when the policy has a model) and
``ask`` (the next runs worth buying with the budget left). On the same runs and seed the answer is the
campaign's final recommendation.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.mixture import Mixture
from bomix.policies.base import Policy, Problem
from bomix.space import Fidelity
from bomix.summary import predicted
from bomix.suggest.problem import build_problem, choose_objective, choose_target, logged_history
from bomix.suggest.readers import Swarm


@dataclass
class Suggestion:
    """What ``bomix suggest`` reports (``to_dict`` is its ``--json``).

    Attributes:
        source / format: the file and its format; n_runs / fidelities: runs read, per ``scale@steps``.
        method / seed: the policy and its seed; objective: the objective's name; target: the target fidelity.
        mixture: the recommended mixture; fallback: it is a numerical fallback, not the policy's own answer.
        predicted: ``{"mean", "sd"}`` of the objective at the target, or None (a policy without a model).
        trust: whether the mixture lies in the table's trust region (:func:`trust_report`).
        next_runs: the next runs worth buying: ``scale``, ``steps``, ``cost`` (target-run equivalents), ``mixture``.
        asked / budget_left: how many next runs were asked for, with which budget (target-run equivalents).
        notes: what the reader or the policy left out.
        policy_info: the policy's own diagnostics.
    """

    source: str
    format: str
    n_runs: int
    fidelities: dict[str, int]
    method: str
    seed: int
    objective: str
    target: Fidelity
    mixture: Mixture
    fallback: bool
    predicted: dict | None
    trust: dict | None
    next_runs: list[dict]
    asked: int
    budget_left: float
    notes: list[str] = field(default_factory=list)
    policy_info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "format": self.format, "n_runs": self.n_runs, "fidelities": self.fidelities,
                "method": self.method, "seed": self.seed, "objective": self.objective,
                "target": {"scale": self.target.scale, "steps": self.target.steps},
                "recommendation": self.mixture.to_dict(), "fallback": self.fallback, "predicted": self.predicted,
                "trust": self.trust, "next_runs": self.next_runs, "asked": self.asked,
                "budget_left": self.budget_left,
                "notes": list(self.notes), "policy_info": self.policy_info}


def make_policy(method: str, options: Mapping[str, Any] | None = None) -> Policy:
    """The policy ``method`` with ``options`` (plain values), built as a study builds it; an online method (which
    learns from its own runs' in-run signals, not from logged runs) is refused in one line."""
    from bomix.study.config import build_policy

    policy = build_policy({"name": method, **dict(options or {})})
    if _is_a(policy, "bomix.policies.online.base", "OnlinePolicy"):
        raise BomixError(f"--method {method} is an online method: it learns from its own runs' in-run signals, not "
                         "from logged runs; choose one that learns from runs (mfbo, regmix, dml, ...)")
    return policy


def suggest(swarm: Swarm, method: str = "mfbo", *, options: Mapping[str, Any] | None = None, seed: int = 0,
            objective=None, target: Fidelity | str | None = None, target_params: float | None = None,
            next_runs: int = 0, budget: float = 1.0) -> Suggestion:
    """Recommend a mixture from logged runs with ``method``.

    Args:
        swarm: the runs (:func:`bomix.suggest.readers.read_runs`).
        method / options: a policy of ``conf/policy`` and its options (e.g. ``{"n_runs": 512}``).
        seed: the policy's seed (a campaign's ``seed``).
        objective: an objective config (metric name, mapping; default the table's one metric).
        target / target_params: the target fidelity (default the largest logged scale at its last step) and, for
            a scale the table lacks, its parameter count.
        next_runs: how many next runs to ask the policy for (0: none).
        budget: target-run equivalents left to spend on those runs.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BomixError(f"--seed must be an integer >= 0, got {seed!r}")
    if not (np.isfinite(budget) and budget > 0):
        raise BomixError(f"--budget must be a number > 0 of target-run equivalents, got {budget}")
    if int(next_runs) < 0:
        raise BomixError(f"--next must be >= 0, got {next_runs}")
    runs = swarm.runs
    obj = choose_objective(runs, objective)
    fid, params = choose_target(runs, target, target_params)
    policy = make_policy(method, options)
    problem = build_problem(runs, obj, fid, params)
    policy.bind(problem, int(seed))
    history = logged_history(runs, swarm.order, problem, budget)
    mixture = problem.space.mixture(policy.recommend(history).weights)
    fallback = bool(policy.recommendation_fallback)
    pred = predicted(policy, history, mixture)
    specs = policy.ask(history, float(budget), int(next_runs))[: int(next_runs)] if next_runs else []
    return Suggestion(
        source=runs.source, format=swarm.format, n_runs=len(history.results),
        fidelities=dict(Counter(str(r.spec.fidelity) for r in history.results)), method=method, seed=int(seed),
        objective=obj.name, target=fid, mixture=mixture, fallback=fallback, predicted=pred,
        trust=trust_report(problem, mixture), next_runs=[_run(problem, s) for s in specs], asked=int(next_runs),
        budget_left=float(budget),
        notes=[*swarm.notes, *_law_notes(policy, history)], policy_info=policy.diagnostics())


def trust_report(problem: Problem, mixture: Mixture) -> dict | None:
    """Whether ``mixture`` lies in the table's trust region at the target (:class:`bomix.proposals.TrustRegion`'s
    rule: at a step that was not logged, its scale's mixtures and nearest step's radius) or, when the target's
    scale was never logged, at the largest logged fidelity: ``fidelity``, ``at_target``, ``inside``, ``distance``
    (TV to the nearest logged mixture there) and ``radius``."""
    tr = problem.proposals.trust
    if tr is None or not tr.radius:
        return None
    space = problem.space
    fid = space.target if tr.radius_at(space.target) is not None else max(
        tr.radius, key=lambda f: (space.scale(f.scale).params, f.steps))
    W = mixture.weights[None]
    return {"fidelity": str(fid), "at_target": fid == space.target, "inside": bool(tr.inside(W, fid)[0]),
            "distance": float(tr.distance(W, fid)[0]), "radius": tr.radius_at(fid)}


def _is_a(obj: object, module: str, name: str) -> bool:
    """``isinstance(obj, module.name)`` without importing ``module`` (an instance of one has imported it; importing
    the law or online policies would import torch for nothing)."""
    mod = sys.modules.get(module)
    return mod is not None and isinstance(obj, getattr(mod, name))


def _run(problem: Problem, spec) -> dict:
    return {"scale": spec.scale, "steps": int(spec.steps),
            "cost": float(problem.cost(spec.scale, spec.steps, spec.start_step)),
            "mixture": spec.mixture.to_dict(), **({"resume_from": spec.resume_from} if spec.resume_from else {})}


def _law_notes(policy: Policy, history: History) -> list[str]:
    """A law whose design has more runs than the table fits its law on part of them, as a campaign in the middle
    of its design would: say so, and how to fit all."""
    if not _is_a(policy, "bomix.policies.laws.base", "LawPolicy"):
        return []
    planned = len(policy.planned(history))
    n = len(history.ok)
    if n >= planned:
        return []
    used = 1 << (n.bit_length() - 1) if n else 0
    return [f"{policy.name} has not finished its design ({planned} runs within the budget, {n} in the table): like a "
            f"campaign in the middle of its design it fits its law on the first {used} runs; set its design size to "
            f"{n} to fit all of them (e.g. --option n_runs={n} for regmix)"]
