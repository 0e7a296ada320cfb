"""Every check a run passes, written once: a proposed or stored spec (:func:`validate_spec`), a
backend's or a script's result (:func:`checked_result`, :func:`outcome`), and the config's fingerprint
and meta (:func:`config_hash`, :func:`run_meta`). Used by :class:`bomix.campaign.ledger.Ledger`."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bomix.campaign.branches import check_branch
from bomix.errors import BomixError
from bomix.history import History
from bomix.policies.base import Problem
from bomix.runs import Curve, RunResult, RunSpec, validate_run_id

log = logging.getLogger("bomix.campaign")

#: the modules whose versions a campaign records (a study records bomix and python only)
VERSIONED = ("numpy", "scipy", "torch", "botorch", "gpytorch", "pandas")


@dataclass(frozen=True)
class Host:
    """What runs the specs, as the checks see it: a backend, or a study's training script.

    Attributes:
        name: named in errors (``backend <name> cannot ...``).
        supports_schedule / supports_continuation: what it can run.
        supports_branch: continues a phased run from a parent's phase boundary (:mod:`bomix.campaign.branches`).
        check_controller: ``spec -> None``, one-line error unless it can host ``spec.controller``.
        cost: ``spec -> float``, the charge in target-run equivalents.
    """

    name: str
    supports_schedule: bool
    supports_continuation: bool
    check_controller: Callable[[RunSpec], None]
    cost: Callable[[RunSpec], float]
    supports_branch: bool = False

    @classmethod
    def of_backend(cls, backend) -> "Host":
        return cls(backend.name, backend.supports_schedule, backend.supports_continuation,
                   backend.check_controller, backend.cost, backend.supports_branch)


def config_hash(config: Mapping) -> str:
    """Stable hash of the parts of a config that define a campaign's results."""
    from bomix.config import normalized

    return hashlib.sha256(json.dumps(normalized(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


def versions(modules: Sequence[str] = VERSIONED) -> dict[str, str]:
    """bomix's, Python's and ``modules``' versions (those that import)."""
    import bomix

    out = {"bomix": bomix.__version__, "python": platform.python_version()}
    for mod in modules:
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            pass
    return out


def run_meta(config: Mapping, problem: Problem, *, policy: str, backend: str, seed: int, created: float,
             modules: Sequence[str] = VERSIONED) -> dict:
    """The meta a campaign or study stores once: config and its hash, space, objective, names, versions."""
    return dict(config=config, config_hash=config_hash(config), domains=list(problem.space.domains),
                space=problem.space.describe(), objective=problem.objective.to_dict(), policy=policy,
                backend=backend, seed=seed, versions=versions(modules), created=created)


def validate_spec(problem: Problem, host: Host, spec: RunSpec, history: History, bounds: bool = True) -> RunSpec:
    """A proposed (or stored) spec checked against the problem: ladder, bounds, pool, controller, continuation.

    ``resume_from`` must name a finished ok run of this campaign with the same mixture and scale
    and fewer steps, or on a phased space (a host with ``supports_branch``) be a branch
    (:func:`bomix.campaign.branches.check_branch`). ``bounds=False`` skips the weight bounds and pool
    membership (finished runs of a forced resume). Returns the spec with the space's mixture (and ``resume_step`` set).
    """
    space = problem.space
    mix = space.mixture(spec.mixture.weights)
    space.check_fidelity(spec.fidelity)
    if spec.schedule is not None:
        if not host.supports_schedule:
            raise BomixError(f"backend {host.name} cannot run mixture schedules: choose another policy or backend")
        for m in spec.schedule.mixtures:
            sm = space.mixture(m.weights)
            if bounds:
                space.check_mixture(sm, spec.fidelity)
    elif bounds:
        space.check_mixture(mix, spec.fidelity)
        problem.proposals.check(mix, spec.fidelity)  # a pool answers only its logged points
    if spec.controller is not None:
        host.check_controller(spec)
        ref = spec.controller.reference or {}
        if ref.get("source") == "model" and ref.get("run_id") is not None:
            validate_run_id(ref["run_id"], "controller.reference.run_id")
            if ref["run_id"] not in {r.spec.run_id for r in history.ok}:
                raise BomixError(f"controller.reference.run_id={ref['run_id']} is not a finished ok run "
                                 "of this campaign")
    if spec.resume_from is not None and host.supports_branch and getattr(space, "phases", None) is not None:
        spec = check_branch(space, spec.with_(mixture=mix), history)
    elif spec.resume_from is not None:
        spec, mix = _continuation(host, spec, mix, history)
    return spec.with_(mixture=mix)


def _continuation(host: Host, spec: RunSpec, mix, history: History):
    if not host.supports_continuation:
        raise BomixError(f"backend {host.name} cannot continue runs (resume_from)")
    validate_run_id(spec.resume_from, "resume_from")
    prev = {r.spec.run_id: r.spec for r in history.ok}.get(spec.resume_from)
    if (prev is None or prev.scale != spec.scale or prev.steps >= spec.steps
            or not np.allclose(prev.mixture.weights, mix.weights, rtol=0, atol=1e-12)):
        raise BomixError(f"resume_from={spec.resume_from} is not a finished shorter run of the same "
                         "mixture and scale")
    if (prev.controller is None) != (spec.controller is None) or (
            spec.controller is not None and prev.controller.to_dict() != spec.controller.to_dict()):
        raise BomixError(f"resume_from={spec.resume_from}: a continuation must carry the same controller")
    return spec.with_(resume_step=prev.steps), prev.mixture


def outcome(objective, curve: Curve) -> tuple[str, str | None]:
    """The status of a run reported ``ok`` with ``curve``: ``("ok", None)``, ``("failed", why)`` for an
    empty curve, ``("diverged", why)`` for a non-finite final objective."""
    y = objective.on_curve(curve)
    if len(y) == 0:
        return "failed", "backend returned status ok with an empty curve"
    if not np.isfinite(y[-1]):
        return "diverged", f"non-finite objective {float(y[-1])} at step {int(curve.steps[-1])}"
    return "ok", None


def checked_result(res, spec: RunSpec | None, objective, cost: Callable[[RunSpec], float]) -> RunResult | None:
    """The one check every result passes before it is recorded.

    ``spec``: the pending run it answers (None: a result for no pending run, dropped). Status must be
    known; an ``ok`` result goes through :func:`outcome`; a non-finite or negative cost is replaced
    by the run's charge ``cost(spec)``.
    """
    if spec is None or not isinstance(res, RunResult):
        log.error("dropping a result for no pending run: %r", getattr(res, "spec", res))
        return None
    if res.spec is not spec:
        res.spec = spec  # record what was asked, whatever spec object the backend echoed
    c = res.cost
    if not isinstance(c, (int, float)) or not np.isfinite(c) or c < 0:
        res.cost = float(cost(spec))
    if res.status == "ok":
        res.status, why = outcome(objective, res.curve)
        if why is not None:
            res.error = why
    return res


def config_diff_error(directory, old: Mapping, new: Mapping) -> BomixError:
    """The one-line refusal of a campaign directory made by another config (naming the changed keys)."""
    from bomix.config import config_diff

    diff = config_diff(old, new)
    return BomixError(f"campaign directory {directory} belongs to a different config ({diff or 'see its store'}): "
                      "choose another directory (hydra.run.dir=...) or pass force=true to resume it anyway")
