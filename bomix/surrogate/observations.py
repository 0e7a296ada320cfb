"""The observation encoder: a campaign's history -> the GP's training data, and runs -> GP inputs.

It reads the history (the finished runs' curves, the specs) and the space's GP coordinates
(``Space.encode``: ``X = [w_1..w_K, s, t]``, one fidelity per row); it never fits or queries a model.
Outcomes are ``Y = -loss`` (the GP maximises). Mixtures at one fixed fidelity (acquisition search, target
sets) are built by :class:`bomix.acquisition.fixed.FixedFidelities` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bomix.history import History, Observations
from bomix.objective import Objective
from bomix.runs import RunSpec
from bomix.space import Space

DTYPE = torch.double


@dataclass(frozen=True)
class ObservationEncoder:
    """Which observations the GP sees, and how they become tensors.

    Attributes:
        space: the problem's space (target fidelity, step grid, GP coordinates).
        checkpoints: every (subsampled) checkpoint of every run (multi-fidelity); else only the final values
            at the target fidelity (single-fidelity).
        max_per_run: checkpoints kept per run (log-spaced, last always kept).
        min_step_frac: ignore checkpoints earlier than this fraction of the smallest grid step.
        max_obs: at most this many observations (fewer checkpoints per run, then only the latest runs).
    """

    space: Space
    checkpoints: bool = True
    max_per_run: int = 4
    min_step_frac: float = 0.25
    max_obs: int = 2000

    def observations(self, history: History, objective: Objective | None = None) -> Observations:
        """The GP's training data: subsampled checkpoints (MF) or final target-fidelity values (SF); of ``objective``
        instead of the history's own (one metric of it: ``policy.metrics_model``) when given."""
        t = self.space.target
        if not self.checkpoints:
            return dedupe(history.at_fidelity(t, objective))
        min_step = self.min_step_frac * min(self.space.step_grid)
        per_run = self.max_per_run
        while True:  # fewer checkpoints per run until the data fits max_obs (keeps decisions fast)
            obs = history.observations(checkpoints=True, max_per_run=per_run, objective=objective)
            obs = dedupe(obs.select(obs.steps >= min_step))
            if len(obs) <= self.max_obs or per_run == 1:
                break
            per_run -= 1
        if len(obs) > self.max_obs:  # still too many: the latest runs' finals, and every target observation
            order = {rid: i for i, rid in enumerate(r.spec.run_id for r in history.ok)}
            rank = np.array([order.get(r, 0) for r in obs.run_ids])
            at_t = (obs.scales == t.scale) & (obs.steps == t.steps)
            others = np.sort(rank[~at_t])[::-1]
            n_keep = min(len(others), max(0, self.max_obs - int(at_t.sum())))
            cut = others[n_keep - 1] if n_keep else np.inf
            obs = obs.select(at_t | (rank >= cut))
        return obs

    def tensors(self, obs: Observations) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X (n x (K + 2)), Y (n x 1) = -loss)``, double."""
        X = torch.tensor(self.space.encode(obs.w, list(obs.scales), obs.steps), dtype=DTYPE)
        Y = torch.tensor(-obs.y, dtype=DTYPE).unsqueeze(-1)
        return X, Y

    def spec_inputs(self, specs: Sequence[RunSpec]) -> torch.Tensor | None:
        """``m x (K + 2)`` GP inputs of runs (pending or just chosen) at their own fidelities; None if none."""
        if not specs:
            return None
        return torch.tensor(np.vstack([self.space.encode(s.mixture.weights, s.scale, s.steps) for s in specs]),
                            dtype=DTYPE)


def dedupe(obs: Observations) -> Observations:
    """Keep one observation per (mixture, scale, step): continued runs repeat their parent's checkpoints."""
    seen: dict[tuple, int] = {}
    for i in range(len(obs)):
        seen[(obs.w[i].tobytes(), obs.scales[i], int(obs.steps[i]))] = i
    keep = np.zeros(len(obs), dtype=bool)
    keep[list(seen.values())] = True
    return obs.select(keep)
