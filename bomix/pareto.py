"""Pareto fronts and hypervolumes of objective vectors to MINIMISE (BoTorch's utilities underneath, which maximise).

Hypervolume regret compares a set of mixtures with a simulator's true front, both scored by their *true* objective
vectors at the target. Objectives live on different scales, so both are normalised by the true front's ideal
(per-objective best) and nadir (per-objective worst on the front): ``z = (y - ideal) / (nadir - ideal)``, the front
spans ``[0, 1]`` in every objective, and the reference point is ``1 + REF_MARGIN`` in each (points beyond it add
nothing). Then

    hv_regret = HV(true front) - HV(set)          (>= 0 up to the true front's sampling error; clipped at 0)

and ``hv_regret_frac = hv_regret / HV(true front)``. The true front (:func:`true_front`) comes from dense sampling
of the noiseless objectives: Dirichlet(1) and Dirichlet(0.2) draws (edges and faces), vertices and edge midpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated

from bomix.errors import BomixError

#: The reference point sits this far beyond the true front's nadir (in units of the front's range).
REF_MARGIN = 0.1
#: Dense sampling of the true front: draws of each kind (Dirichlet(1), Dirichlet(0.2)) with 2 objectives / more
#: (the front of 3 objectives holds ~350 points at 2000 draws, and its exact hypervolume takes ~1 s on one core).
TRUE_FRONT_DRAWS = {2: 5000, 3: 2000, 4: 1000}
#: :func:`non_dominated` checks at most this many points at once with BoTorch's ``is_non_dominated``.
SWEEP_CHUNK = 2048


def non_dominated(Y: np.ndarray) -> np.ndarray:
    """``(n, M)`` objective vectors (lower is better) -> ``(n,)`` bool mask of the non-dominated ones (duplicates:
    the first is kept)."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise BomixError(f"objective vectors must be an (n, M) array, got shape {Y.shape}")
    if not len(Y):
        return np.zeros(0, dtype=bool)
    if len(Y) <= SWEEP_CHUNK:
        return is_non_dominated(-torch.tensor(Y, dtype=torch.double), deduplicate=True).numpy()
    # a point can be dominated only by one with a smaller sum: sweep in that order, chunk by chunk, against the
    # front found so far (O(n x front) instead of BoTorch's O(n^2) memory and time)
    order = np.argsort(Y.sum(1), kind="stable")
    front = np.zeros((0, Y.shape[1]))
    keep = np.zeros(len(Y), dtype=bool)
    for lo in range(0, len(Y), SWEEP_CHUNK):
        idx = order[lo:lo + SWEEP_CHUNK]
        C = Y[idx]
        if len(front):
            dom = ((front[None] <= C[:, None]).all(-1) & (front[None] < C[:, None]).any(-1)).any(1)
            dup = (front[None] == C[:, None]).all(-1).any(1)
            idx, C = idx[~(dom | dup)], C[~(dom | dup)]
        if len(C):
            mask = is_non_dominated(-torch.tensor(C, dtype=torch.double), deduplicate=True).numpy()
            keep[idx[mask]] = True
            front = np.vstack([front, C[mask]])
    return keep


def hypervolume(Y: np.ndarray, ref: Sequence[float]) -> float:
    """Volume dominated by ``Y (n, M)`` (lower is better) and bounded by ``ref (M,)``; points not better than
    ``ref`` in every objective add nothing."""
    Y = np.asarray(Y, dtype=float).reshape(-1, len(ref))
    ref_t = -torch.tensor(np.asarray(ref, dtype=float), dtype=torch.double)
    if not len(Y):
        return 0.0
    part = DominatedPartitioning(ref_point=ref_t, Y=-torch.tensor(Y, dtype=torch.double))
    return float(part.compute_hypervolume())


def normaliser(front: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ideal (M,), span (M,))`` of a front ``(n, M)``: ``z = (y - ideal) / span`` maps it into ``[0, 1]``."""
    front = np.asarray(front, dtype=float)
    ideal, nadir = front.min(0), front.max(0)
    return ideal, np.where(nadir - ideal > 1e-12, nadir - ideal, 1.0)


def hv_regret(front: np.ndarray, Y: np.ndarray, hv_true: float | None = None) -> dict:
    """Hypervolume regret of the set ``Y (n, M)`` against the true ``front (m, M)`` (see the module docstring);
    ``hv_true``: the front's own normalised hypervolume when known (it is the slow part with 3-4 objectives).

    Returns:
        ``{"hv_true", "hv", "hv_regret", "hv_regret_frac"}`` in the front-normalised space.
    """
    front = np.asarray(front, dtype=float)
    if front.ndim != 2 or not len(front):
        raise BomixError("hypervolume regret needs a non-empty (m, M) true front")
    ideal, span = normaliser(front)
    ref = np.full(front.shape[1], 1.0 + REF_MARGIN)
    hv_true = hypervolume((front - ideal) / span, ref) if hv_true is None else float(hv_true)
    Y = np.asarray(Y, dtype=float).reshape(-1, front.shape[1])
    Y = Y[np.isfinite(Y).all(1)]
    hv = hypervolume((Y - ideal) / span, ref)
    regret = max(hv_true - hv, 0.0)
    return {"hv_true": hv_true, "hv": hv, "hv_regret": regret,
            "hv_regret_frac": regret / hv_true if hv_true > 0 else 0.0}


def front_hypervolume(front: np.ndarray) -> float:
    """The normalised hypervolume of a true ``front (m, M)`` itself (``hv_true`` of :func:`hv_regret`)."""
    ideal, span = normaliser(front)
    return hypervolume((np.asarray(front, dtype=float) - ideal) / span, np.full(np.shape(front)[1], 1.0 + REF_MARGIN))


def true_objectives(backend, objectives: Sequence, W: np.ndarray, fidelity) -> np.ndarray:
    """``(n, M)`` noiseless values of ``objectives`` at mixtures ``W (n, K)`` (simulators only: the evaluator's)."""
    W = np.atleast_2d(np.asarray(W, dtype=float))
    return np.column_stack([np.asarray(backend.true_values(W, fidelity, o), dtype=float) for o in objectives])


def true_front(backend, objectives: Sequence, space, fidelity=None, n: int | None = None,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A simulator's true Pareto front at ``fidelity`` (default the target) by dense sampling of ``space``
    (``n`` draws of each kind, default :data:`TRUE_FRONT_DRAWS`), plus each objective's own optimum
    (``backend.optimum``: dense search and SLSQP), which pins the front's ideal and nadir points and so the
    normalisation of :func:`hv_regret`.

    Returns:
        ``(W (m, K), Y (m, M))``: the non-dominated sampled mixtures and their true objective vectors.
    """
    if not backend.has_truth:
        raise BomixError(f"backend {backend.name} has no ground truth: a true front needs a simulator")
    fid = fidelity or space.target
    rng = np.random.default_rng([seed, 4242])
    k = space.k
    eye = np.eye(k)
    edges = np.array([0.5 * (eye[i] + eye[j]) for i in range(k) for j in range(i + 1, k)]).reshape(-1, k)
    n = TRUE_FRONT_DRAWS.get(len(objectives), 1000) if n is None else int(n)
    optima = [backend.optimum(o, fid) for o in objectives]
    best = np.array([m.weights for m, _ in (o for o in optima if o is not None)]).reshape(-1, k)
    W = space.project(np.vstack([space.sample(n, rng, 1.0, fid), space.sample(n, rng, 0.2, fid), eye, edges, best]),
                      fid)
    Y = true_objectives(backend, objectives, W, fid)
    ok = np.isfinite(Y).all(1)
    W, Y = W[ok], Y[ok]
    keep = non_dominated(Y)
    return W[keep], Y[keep]
