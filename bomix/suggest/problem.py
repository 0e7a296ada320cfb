"""Logged runs as a decision problem: the space, target, objective and cost model a campaign ending with
these runs has, and the :class:`~bomix.history.History` of those runs (everything a policy reads).

- The space: the table's domains and ladder (plus the target's scale when it was never run), any step count
  from the smallest logged to the target's, the runs' final steps (and the target's) as the step grid.
- The target: ``SCALE@STEPS`` (a new scale needs its parameter count), default the largest logged scale at
  its last logged step (as ``bomix simulator build`` does).
- The cost: FLOPs, ``6 * params * tokens`` (tokens per step from the table's ``tokens`` column when it has
  one), in target-run equivalents.
- The trust region: the table's (:func:`bomix.backends.replay.trust.trust_region`), on ``problem.proposals``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bomix.backends.replay.build import parse_objective
from bomix.backends.replay.trust import trust_region
from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.history import History
from bomix.objective import Objective
from bomix.policies.base import Problem
from bomix.proposals import Proposals
from bomix.runs import Curve, RunResult, RunSpec
from bomix.runtable import LoggedRuns
from bomix.space import Fidelity, Mixture, Scale, Space

#: the tag of a spec made from a logged run (not "init": GP policies then read them as data, not as their
#: own initial design)
LOGGED_TAG = "logged"
#: at most this many step counts in the grid new runs are chosen from (log-spaced; the target's always kept)
MAX_STEP_GRID = 6


def objective_config(text: str | None):
    """``--objective`` text (``m`` | ``mean:m1,m2`` | ``max:m`` | JSON, as ``bomix simulator build`` reads it) -> an
    objective config (None stays None)."""
    return parse_objective(text)


def objective_metrics(config) -> list[str]:
    """The metric names an objective config uses ([] when None)."""
    return [] if config is None else list(Objective.from_config(config).metrics)


def choose_objective(runs: LoggedRuns, config) -> Objective:
    """The objective: ``config``, else the table's one metric; one-line error listing the metrics otherwise."""
    if config is None:
        if len(runs.metrics) != 1:
            raise BomixError(f"{runs.source} has {len(runs.metrics)} metrics: choose the objective with --objective "
                             f"METRIC (one of {', '.join(runs.metrics)})")
        config = runs.metrics[0]
    obj = Objective.from_config(config)
    missing = [m for m in obj.metrics if m not in runs.metrics]
    if missing:
        raise BomixError(f"--objective uses metric(s) {missing} that {runs.source} lacks: choose among "
                         f"{', '.join(runs.metrics)}")
    return obj


def choose_target(runs: LoggedRuns, target: Fidelity | str | None, params: float | None) -> tuple[Fidelity, float]:
    """The target fidelity and its scale's parameter count (see the module docstring)."""
    if target is None:
        if params is not None:
            raise BomixError("--target-params needs --target SCALE@STEPS (the name and steps of the target run)")
        scale = max(runs.scales, key=runs.scales.get)
        t = runs.table
        return Fidelity(scale, int(t.loc[t["scale"] == scale, "step"].max())), runs.scales[scale]
    fid = target if isinstance(target, Fidelity) else Fidelity.parse(target)
    if fid.steps < 1:
        raise BomixError(f"--target {fid}: the target's steps must be >= 1")
    known = runs.scales.get(fid.scale)
    if known is None and params is None:
        raise BomixError(f"--target scale {fid.scale!r} is not in the table's ladder {sorted(runs.scales)}: give its "
                         "parameter count with --target-params N")
    if params is not None and not (np.isfinite(params) and params > 0):
        raise BomixError(f"--target-params must be a parameter count > 0, got {params}")
    if known is not None and params is not None and float(params) != known:
        raise BomixError(f"--target-params {params:g} differs from the {known:g} parameters the table logs for "
                         f"{fid.scale!r}: leave --target-params out, or name the target scale differently")
    other = [s for s, p in runs.scales.items() if known is None and p == float(params)]
    if other:
        raise BomixError(f"--target-params {params:g} is the table's scale {other[0]!r}: use --target "
                         f"{other[0]}@{fid.steps}")
    return fid, float(known if known is not None else params)


def step_grid(runs: LoggedRuns, target: Fidelity) -> tuple[int, ...]:
    """The step counts new runs are chosen from: the runs' final steps and the target's, at most
    :data:`MAX_STEP_GRID` of them (log-spaced, the target's kept)."""
    finals = np.unique(runs.table.groupby("run_id")["step"].max().to_numpy())
    steps = np.unique(np.append(finals, target.steps))
    if steps.size > MAX_STEP_GRID:
        want = np.geomspace(steps.min(), steps.max(), MAX_STEP_GRID - 1)
        steps = np.unique([*(steps[int(np.argmin(np.abs(np.log(steps) - np.log(w))))] for w in want), target.steps])
    return tuple(int(s) for s in steps)


def build_space(runs: LoggedRuns, target: Fidelity, target_params: float) -> Space:
    """The space of a campaign on these runs (see the module docstring)."""
    scales = dict(runs.scales)
    scales.setdefault(target.scale, target_params)
    steps = runs.table["step"].to_numpy()
    tps = None
    if runs.has_tokens:
        tps = float(np.median(runs.table["tokens"].to_numpy(float) / steps))
    return Space(runs.domains, [Scale(n, p) for n, p in scales.items()],
                 min_steps=int(min(steps.min(), target.steps)), max_steps=int(max(steps.max(), target.steps)),
                 target=target, step_grid=step_grid(runs, target), tokens_per_step=tps)


def build_problem(runs: LoggedRuns, objective: Objective, target: Fidelity, target_params: float) -> Problem:
    """The policy-facing problem: the space, the objective, the FLOPs cost model and the table's trust region."""
    space = build_space(runs, target, target_params)
    trust = trust_region(runs.table, runs.domains)
    return Problem(space=space, objective=objective, cost=FlopsCost(space, space.tokens_per_step),
                   metrics=tuple(runs.metrics), proposals=Proposals(space, None, trust))


def logged_history(runs: LoggedRuns, order: Sequence[str], problem: Problem, budget_left: float) -> History:
    """The history of a campaign that ran these runs in ``order``: each run finished ``ok``, charged what its spec
    costs; the budget is what they cost plus ``budget_left``."""
    t, space = runs.table, problem.space  # sorted by (run_id, step): each run's rows are one slice
    rid, steps = t["run_id"].to_numpy(str), t["step"].to_numpy()
    W, M = t[runs.w_cols].to_numpy(float), t[runs.m_cols].to_numpy(float)
    scale, params = t["scale"].to_numpy(str), t["params"].to_numpy(float)
    starts = np.flatnonzero(np.r_[True, rid[1:] != rid[:-1]])
    rows = {rid[a]: slice(a, b) for a, b in zip(starts, np.r_[starts[1:], len(t)])}
    results = []
    for r in order:
        i = rows[r]
        a, last = i.start, i.stop - 1
        spec = RunSpec(Mixture(W[a], space.domains), str(scale[a]), int(steps[last]), run_id=str(r), tag=LOGGED_TAG)
        curve = Curve(steps[i], {m: M[i, j] for j, m in enumerate(runs.metrics)})
        results.append(RunResult(spec, "ok", curve, problem.cost(spec.scale, spec.steps), 0.0, None,
                                 {"params": float(params[a])}))
    spent = float(sum(r.cost for r in results))
    return History(space, problem.objective, results, [], spent + float(budget_left), spent)
