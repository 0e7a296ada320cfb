"""Recommend where the evidence is: a GP policy's recommendation kept within a trust radius of its own runs.

A GP's posterior far from every observed mixture is its prior and its kernel's extrapolation, and its sd there is
only as honest as its fitted hyperparameters; an argmax of ``mean - kappa * sd`` can still land in such a region
(a corner of the simplex, a one-domain mixture) on a model that is overconfident. This rule keeps the recommendation
within total-variation distance ``r`` of some mixture the campaign ran (at any fidelity), where ``r`` is the
``q``-quantile of the observed mixtures' own nearest-neighbour distances: a recommendation is no farther from the
evidence than ``q`` of the runs are from each other. It is the same rule, on the policy's own runs, as a replay
simulator's trust region on its logged runs (:mod:`bomix.backends.replay.trust`); a policy never reads the
simulator's.
"""

from __future__ import annotations

import numpy as np
import torch

from bomix.acquisition.fixed import AcqFn
from bomix.proposals import nn_distances, tv_distance

#: Penalty per unit of TV distance beyond the radius, relative to the radius (a barrier: any point inside wins).
BARRIER = 1e4


def evidence_radius(C: np.ndarray, q: float) -> float:
    """The ``q``-quantile of the nearest-neighbour TV distances among the rows of ``C (n, K)`` (n >= 2); 1.0
    (the whole simplex) with fewer than two distinct mixtures."""
    C = np.unique(np.atleast_2d(C).round(12), axis=0)
    d = nn_distances(C)
    d = d[np.isfinite(d)]
    return float(np.quantile(d, q)) if d.size else 1.0


def distance_to(W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """``(b, K), (n, K) -> (b,)``: TV distance of each row of ``W`` to its nearest row of ``C`` (differentiable: the
    torch twin of :func:`bomix.proposals.tv_distance`)."""
    return 0.5 * torch.cdist(W, C, p=1).min(dim=-1).values


def within(acq: AcqFn, C: np.ndarray, radius: float) -> AcqFn:
    """``acq`` minus a barrier beyond ``radius`` (TV) of the nearest row of ``C (n, K)``: ``BARRIER * (d / r - 1)``
    outside, unchanged inside; its gradient outside points back towards the evidence."""
    centres = torch.as_tensor(np.unique(np.atleast_2d(C).round(12), axis=0), dtype=torch.double)
    r = max(float(radius), 1e-9)

    def penalised(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
        d = distance_to(W, centres)
        return acq(W, g) - BARRIER * (d / r - 1.0).clamp_min(0.0)

    return penalised


def inside(W: np.ndarray, C: np.ndarray, radius: float) -> np.ndarray:
    """``(m, K) -> (m,)`` bool: within ``radius`` (TV) of a row of ``C``."""
    return tv_distance(W, C) <= radius + 1e-12
