"""Branch runs on a phased space: one trunk, many continuations from its state at a phase boundary.

Two runs of a :class:`~bomix.phases.PhasedSpace` at the same scale and steps ``S`` train on the same data up to
step ``b`` when both schedules start a phase at ``b`` and agree (starts and mixtures, to :data:`TOL`) on every
segment before it. A new run that shares such a prefix with an earlier finished ok run (its *parent*) need not
train those ``b`` steps again: it is recorded as ``resume_from=<parent>, resume_step=b``, starts from the
parent's state at step ``b`` (the trainer's boundary checkpoint) and pays only ``cost(S) - cost(b)``.

:func:`branch_for` is the campaign's decision (the latest shared boundary; deterministic, taken by
:meth:`bomix.campaign.ledger.Ledger.admit` before the spec is stored), :func:`check_branch` the check every
branch passes, new or read back from a store. Policies never see this: they propose points.
"""

from __future__ import annotations

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.phases import PhasedSpace
from bomix.runs import MixtureSchedule, RunSpec, validate_run_id

#: two phases' mixtures are the same when no weight differs by more than this
TOL = 1e-9


def shares_prefix(a: MixtureSchedule, b: MixtureSchedule, step: int) -> bool:
    """Whether ``a`` and ``b`` both start a phase at ``step`` and train on the same mixtures before it."""
    if step <= 0 or step not in a.starts or step not in b.starts:
        return False
    i = a.starts.index(step)
    return a.starts[:i] == b.starts[:b.starts.index(step)] and all(
        np.allclose(x.weights, y.weights, rtol=0, atol=TOL) for x, y in zip(a.mixtures[:i], b.mixtures[:i]))


def same_schedule(a: MixtureSchedule, b: MixtureSchedule) -> bool:
    """Whether ``a`` and ``b`` are the same schedule (starts equal, mixtures to :data:`TOL`)."""
    return a.starts == b.starts and all(np.allclose(x.weights, y.weights, rtol=0, atol=TOL)
                                        for x, y in zip(a.mixtures, b.mixtures))


def shared_boundary(a: MixtureSchedule, b: MixtureSchedule) -> int:
    """The latest step ``> 0`` up to which ``a`` and ``b`` share their schedule (:func:`shares_prefix`); 0: none."""
    return max((s for s in a.starts[1:] if shares_prefix(a, b, s)), default=0)


def branch_for(space: PhasedSpace, spec: RunSpec, history: History) -> RunSpec:
    """``spec`` as a branch of the finished ok run it shares the latest phase boundary with, else ``spec``.

    A parent has the same scale, steps and (when ``spec`` sets one) seed, no controller, started before the
    boundary (so it passed through it); a repeat of a finished run's schedule is a new sample, trained from
    scratch. Ties go to the earliest run. The branch keeps ``seed=None`` (the ledger gives it the
    parent's: the steps after ``b`` then draw the batches the uninterrupted schedule would)."""
    if spec.resume_from is not None or spec.controller is not None or spec.schedule is not None:
        return spec
    mine = space.schedule(spec.mixture, spec.steps)
    best, parent = 0, None
    for r in history.ok:
        p = r.spec
        if (p.scale != spec.scale or p.steps != spec.steps or p.controller is not None or p.run_id is None
                or (spec.seed is not None and p.seed != spec.seed)):
            continue
        theirs = space.schedule(p.mixture, p.steps)
        if same_schedule(mine, theirs):
            return spec  # a repeat asks for a new sample: trained from scratch
        b = shared_boundary(mine, theirs)
        if b > best and p.start_step < b:
            best, parent = b, p
    if parent is None:
        return spec
    return spec.with_(resume_from=parent.run_id, resume_step=int(best))


def check_branch(space: PhasedSpace, spec: RunSpec, history: History) -> RunSpec:
    """``spec`` (with ``resume_from``) if it is a valid branch of a finished ok run of ``history``, else a
    one-line :class:`BomixError` saying why."""
    validate_run_id(spec.resume_from, "resume_from")
    prev = {r.spec.run_id: r.spec for r in history.ok}.get(spec.resume_from)
    where = f"resume_from={spec.resume_from} resume_step={spec.resume_step}"
    if prev is None:
        raise BomixError(f"{where}: {spec.resume_from} is not a finished ok run of this campaign")
    if prev.scale != spec.scale or prev.steps != spec.steps:
        raise BomixError(f"{where}: a branch continues a run of the same scale and steps "
                         f"({prev.scale}, {prev.steps} != {spec.scale}, {spec.steps})")
    if prev.controller is not None or spec.controller is not None:
        raise BomixError(f"{where}: runs with an online controller cannot branch")
    if spec.seed is not None and prev.seed is not None and spec.seed != prev.seed:
        raise BomixError(f"{where}: a branch trains on its parent's seed {prev.seed}, not {spec.seed}")
    mine, theirs = space.schedule(spec.mixture, spec.steps), space.schedule(prev.mixture, prev.steps)
    if not shares_prefix(mine, theirs, int(spec.resume_step)):
        raise BomixError(f"{where} is not a branch: both runs must start a phase at step {spec.resume_step} and "
                         f"share their mixtures before it (this run's phases start at {list(mine.starts)}, "
                         f"{spec.resume_from}'s at {list(theirs.starts)})")
    if prev.start_step >= spec.resume_step:
        raise BomixError(f"{where}: {spec.resume_from} itself started at step {prev.start_step}, so it holds no "
                         f"state at step {spec.resume_step}: branch from its parent instead")
    return spec
