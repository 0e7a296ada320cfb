"""Where a GP policy's acquisition is maximised: over the affordable fidelities of its allowed grid, by the
simplex search on a continuous problem, or among the pool points not yet run on a pool problem.

An acquisition here is ``acq(W, g)``: ``W`` a ``b x K`` double tensor of mixtures, ``g`` a ``(b,)`` int array
of indices into the grid; ``(b,)`` values, larger is better (:class:`bomix.acquisition.fixed.FixedFidelities`
builds one from an acquisition over GP inputs). An option is a proposed spec with its acquisition value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bomix.acquisition.fixed import AcqFn
from bomix.acquisition.optimize import OptimizerConfig, maximize
from bomix.cost import BUDGET_EPS
from bomix.history import History, Observations
from bomix.policies.base import Problem
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture

Option = tuple[RunSpec, float]


def affordable(problem: Problem, grid: Sequence[Fidelity], fids: Sequence[Fidelity], budget_left: float) -> np.ndarray:
    """Indices into ``grid`` of the fidelities of ``fids`` (all on ``grid``) that ``budget_left`` pays for."""
    return np.array([grid.index(f) for f in fids if problem.cost.of(f) <= budget_left + BUDGET_EPS], dtype=int)


def pool_options(acq: AcqFn, problem: Problem, grid: Sequence[Fidelity], gidx: np.ndarray, history: History,
                 tag: str) -> list[Option]:
    """On a pool problem: the best not-yet-run pool point at each fidelity ``grid[gidx]`` that has one."""
    done = {(s.mixture, s.fidelity) for s in history.all_specs()}
    out = []
    for gi in gidx:
        f = grid[gi]
        pool = problem.proposals.pool(f)
        if not len(pool):
            continue
        keep = np.array([(Mixture(w), f) not in done for w in pool], dtype=bool)
        if not keep.any():
            continue
        W = pool[keep]
        with torch.no_grad():
            v = acq(torch.tensor(W, dtype=torch.double), np.full(len(W), gi)).numpy()
        i = int(np.argmax(v))
        out.append((RunSpec(Mixture(W[i], problem.space.domains), f.scale, f.steps, tag=tag), float(v[i])))
    return out


def best_options(acq: AcqFn, problem: Problem, grid: Sequence[Fidelity], gidx: np.ndarray, history: History,
                 obs: Observations, rng: np.random.Generator, cfg: OptimizerConfig, tag: str) -> list[Option]:
    """The maximiser of ``acq`` over mixtures at the fidelities ``grid[gidx]`` (one option), or on a pool
    problem the best free pool point at each of them; observed mixtures are extra raw candidates."""
    if problem.proposals.is_pool:
        return pool_options(acq, problem, grid, gidx, history, tag)
    w, gi, val = maximize(lambda W, g: acq(W, gidx[g]), problem.space, [grid[i] for i in gidx], rng, cfg,
                          extra=np.unique(obs.w, axis=0) if len(obs) else None)
    f = grid[gidx[gi]]
    return [(RunSpec(Mixture(w, problem.space.domains), f.scale, f.steps, tag=tag), val)]
