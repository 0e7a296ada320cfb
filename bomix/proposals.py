"""What a policy may propose: one object for the fidelity grid, an exact pool and a trust region.

Every policy asks the same question before it proposes a run: *which (mixture, fidelity) may I ask
for?* :class:`Proposals` (``problem.proposals``) is the one answer:

- **fidelities**: ``fidelities()`` is the grid to choose from (the space's honest grid:
  a replay simulator answers only logged fidelities); ``allows_fidelity`` / ``check_fidelity``
  (one-line error) for any other; ``snap_fidelity(scale, steps)`` -> the nearest answered one.
- **mixtures**: continuous (any feasible mixture: ``is_pool`` False, ``pool(fid)`` None), or an
  exact pool (pool simulators: ``pool(fid)`` is the ``(n, K)`` array of logged mixtures there).
  ``sample(n, rng, fid)`` draws either way (unused pool points, or the space's sampler);
  ``snap(w, fid)`` -> the nearest allowed mixture.
- **trust region** (model simulators, advisory): ``distance(W, fid)`` (total-variation distance
  to the nearest logged mixture), ``radius(fid)`` and ``trusted(W, fid)``; the campaign flags a
  recommendation outside it as *extrapolated*. Runs outside it are allowed.

``problem.candidates`` (a list of ``(Mixture, Fidelity)``) is the pool as a flat list, kept for code
that predates this object; ``problem.proposals.points()`` returns the same list. A policy configured with
a subset of the grid (``fidelities: ["1M@1000", ...]``) reads it with :meth:`Fidelity.parse <bomix.space.Fidelity.parse>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bomix.errors import BomixError
from bomix.space import Fidelity, Mixture, Space

#: weights closer than this (max abs difference) are the same pool point
MATCH_TOL = 1e-6


def tv_distance(W: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Total-variation distance of each row of ``W (n, K)`` to its nearest row of ``C (m, K)``: ``(n,)``.

    ``TV(w, c) = 0.5 * sum |w - c|`` in [0, 1]: the share of the mixture that must move. ``inf`` if
    ``C`` is empty.
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    C = np.atleast_2d(np.asarray(C, dtype=float))
    if C.size == 0:
        return np.full(W.shape[0], np.inf)
    out = np.empty(W.shape[0])
    step = max(1, 2_000_000 // max(1, C.size))
    for a in range(0, W.shape[0], step):
        out[a:a + step] = 0.5 * np.abs(W[a:a + step, None, :] - C[None]).sum(-1).min(1)
    return out


def nn_distances(C: np.ndarray) -> np.ndarray:
    """``(n, K) -> (n,)`` TV distance of each mixture to its nearest *other* one (inf when n < 2)."""
    C = np.atleast_2d(np.asarray(C, dtype=float))
    n = C.shape[0]
    if n < 2:
        return np.full(n, np.inf)
    out = np.empty(n)
    step = max(1, 2_000_000 // max(1, C.size))
    for a in range(0, n, step):
        D = 0.5 * np.abs(C[a:a + step, None, :] - C[None]).sum(-1)
        D[np.arange(D.shape[0]), np.arange(a, a + D.shape[0])] = np.inf
        out[a:a + step] = D.min(1)
    return out


@dataclass(eq=False)
class TrustRegion:
    """Where a simulator's answers are trusted: within ``radius`` (TV) of a logged mixture.

    Args:
        centres: fidelity -> ``(n_f, K)`` logged mixtures there.
        radius: fidelity -> trusted TV distance from the nearest centre.
        by_scale: scale -> ``(m, K)`` mixtures logged at any step of the scale (used for fidelities
            inside a declared step range that were not logged exactly).
    """

    centres: Mapping[Fidelity, np.ndarray]
    radius: Mapping[Fidelity, float]
    by_scale: Mapping[str, np.ndarray] = field(default_factory=dict)

    def _key(self, fid: Fidelity) -> Fidelity | None:
        """The logged fidelity whose radius applies to ``fid`` (itself, else the scale's nearest step)."""
        if fid in self.radius:
            return fid
        same = [f for f in self.radius if f.scale == fid.scale]
        if not same:
            return None
        return min(same, key=lambda f: abs(np.log(f.steps) - np.log(fid.steps)))

    def radius_at(self, fid: Fidelity) -> float | None:
        key = self._key(fid)
        return None if key is None else float(self.radius[key])

    def distance(self, W: np.ndarray, fid: Fidelity) -> np.ndarray:
        """``(n, K) -> (n,)`` TV distance to the nearest mixture logged at ``fid`` (its scale off-grid)."""
        C = self.centres.get(fid)
        if C is None:
            C = self.by_scale.get(fid.scale, np.zeros((0, np.atleast_2d(W).shape[-1])))
        return tv_distance(W, C)

    def inside(self, W: np.ndarray, fid: Fidelity) -> np.ndarray:
        """``(n, K) -> (n,)`` bool: within the radius (False where nothing was logged)."""
        r = self.radius_at(fid)
        if r is None:
            return np.zeros(np.atleast_2d(W).shape[0], dtype=bool)
        return self.distance(W, fid) <= r + 1e-12


class Proposals:
    """The answer to "what may I propose at this fidelity" (see the module docstring).

    Args:
        space: the problem's space (bounds, repetition cap, fidelity grid).
        pool: for pool backends, the only queryable ``(mixture, fidelity)`` points; None = continuous.
        trust: a trust region (advisory), or None.
    """

    def __init__(self, space: Space, pool: Iterable[tuple[Mixture, Fidelity]] | None = None,
                 trust: TrustRegion | None = None):
        self.space = space
        self.trust = trust
        self._points: list[tuple[Mixture, Fidelity]] | None = None
        self._pool: dict[Fidelity, np.ndarray] = {}
        if pool is not None:
            self._points = [(Mixture(m.weights, space.domains), f) for m, f in pool]
            by: dict[Fidelity, list[np.ndarray]] = {}
            for m, f in self._points:
                by.setdefault(f, []).append(m.weights)
            self._pool = {f: np.array(ws) for f, ws in by.items()}

    # ----- fidelities ----------------------------------------------------------------------------
    @property
    def is_pool(self) -> bool:
        """True when only pool points may be proposed."""
        return self._points is not None

    def fidelities(self) -> list[Fidelity]:
        """The grid to choose from (pool problems: only fidelities with pool points), cheapest scale first."""
        grid = self.space.fidelity_grid()
        return [f for f in grid if f in self._pool] if self.is_pool else grid

    def allows_fidelity(self, fid: Fidelity) -> bool:
        return self.space.allows(fid) and (not self.is_pool or fid in self._pool)

    def check_fidelity(self, fid: Fidelity) -> Fidelity:
        """``fid`` when it may be proposed, else a one-line BomixError naming what may."""
        self.space.check_fidelity(fid)
        if self.is_pool and fid not in self._pool:
            raise BomixError(f"the pool has no logged run at {fid}: choose one of "
                             f"{', '.join(str(f) for f in self.fidelities()[:12])}")
        return fid

    def steps_at(self, scale: str) -> list[int]:
        """Grid steps at ``scale`` (ascending; ``[]`` if none)."""
        return sorted(f.steps for f in self.fidelities() if f.scale == scale)

    def snap_fidelity(self, scale: str, steps: float) -> Fidelity:
        """The answered fidelity nearest ``scale@steps``: the same scale when it has any (nearest in
        log-steps), else the nearest grid point in GP coordinates ``(s, t)``."""
        sp = self.space
        if self.is_pool:
            same = [f for f in self._pool if f.scale == scale]
            if same:
                return min(same, key=lambda f: (abs(np.log(f.steps) - np.log(max(steps, 1))), f.steps))
        elif sp.grid is None:
            st = int(np.clip(round(steps), sp.min_steps, sp.max_steps))
            return sp.check_fidelity(Fidelity(sp.scale(scale).name, st))
        else:
            near = sp.grid.nearest_steps(scale, steps)
            if near is not None:
                return Fidelity(scale, near)
        fids = self.fidelities()
        if not fids:
            raise BomixError("nothing may be proposed: the backend answers no fidelity")
        c = sp.fidelity_coords(fids)
        here = np.array([sp.scale_coord(scale), sp.step_coord(float(np.clip(steps, sp.min_steps, sp.max_steps)))])
        return fids[int(np.argmin(np.abs(c - here).sum(1)))]

    # ----- mixtures --------------------------------------------------------------------------------
    def points(self) -> list[tuple[Mixture, Fidelity]] | None:
        """The pool as a flat ``(mixture, fidelity)`` list (None when continuous)."""
        return None if self._points is None else list(self._points)

    def pool(self, fid: Fidelity) -> np.ndarray | None:
        """``(n, K)`` pool mixtures at ``fid`` (``(0, K)`` if none there); None when continuous."""
        if not self.is_pool:
            return None
        return self._pool.get(fid, np.zeros((0, self.space.k)))

    def free(self, fid: Fidelity, used: Iterable) -> np.ndarray | None:
        """Pool mixtures at ``fid`` not yet proposed there (``used``: RunSpecs or (mixture, fidelity)); None
        when continuous."""
        P = self.pool(fid)
        if P is None:
            return None
        taken = [(_mix(u), _fid(u)) for u in used]
        U = np.array([m.weights for m, f in taken if f == fid]) if taken else np.zeros((0, self.space.k))
        if not len(U) or not len(P):
            return P
        d = np.abs(P[:, None, :] - U[None]).max(-1).min(1)
        return P[d > MATCH_TOL]

    def allows(self, mixture: Mixture, fid: Fidelity) -> bool:
        """True when ``mixture`` may be run at ``fid`` (fidelity answered, bounds, and the pool)."""
        if not self.allows_fidelity(fid) or not self.space.feasible(mixture.weights, fid)[0]:
            return False
        if not self.is_pool:
            return True
        return bool(np.abs(self._pool[fid] - mixture.weights).max(1).min() <= MATCH_TOL)

    def check(self, mixture: Mixture, fid: Fidelity) -> None:
        """Raise a one-line BomixError when ``mixture`` is not a pool point at ``fid`` (continuous: no-op;
        the fidelity and bounds are checked by :meth:`check_fidelity` and the space)."""
        if not self.is_pool:
            return
        P = self._pool.get(fid)
        if P is None:
            self.check_fidelity(fid)
        if not len(P) or np.abs(P - mixture.weights).max(1).min() > MATCH_TOL:
            raise BomixError(f"mixture {mixture} is not in the pool at {fid} (a pool simulator "
                             "replays only logged points): propose one of problem.proposals.pool(fid), e.g. via "
                             "problem.proposals.snap(w, fid)")

    def sample(self, n: int, rng: np.random.Generator, fid: Fidelity, alpha: float | Sequence[float] = 1.0,
               used: Iterable = ()) -> np.ndarray:
        """``(m, K)`` mixtures that may be run at ``fid``: ``m <= n`` unused pool points drawn without
        replacement, or ``n`` draws of the space's sampler (``alpha`` = Dirichlet concentration)."""
        free = self.free(fid, used)
        if free is None:
            return self.space.sample(n, rng, alpha, fid)
        if not len(free):
            return free
        return free[rng.choice(len(free), size=min(n, len(free)), replace=False)]

    def snap(self, w: np.ndarray, fid: Fidelity, used: Iterable = ()) -> np.ndarray | None:
        """The allowed mixture nearest ``w (K,)`` at ``fid`` (L1): the projection onto the bounds, or
        the nearest unused pool point (None if the pool has none left there)."""
        free = self.free(fid, used)
        if free is None:
            return self.space.project(np.asarray(w, dtype=float), fid)[0]
        if not len(free):
            return None
        return free[int(np.argmin(np.abs(free - np.asarray(w, dtype=float)).sum(1)))]

    # ----- trust region ----------------------------------------------------------------------------
    def distance(self, W: np.ndarray, fid: Fidelity) -> np.ndarray | None:
        """``(n, K) -> (n,)`` TV distance to the nearest logged mixture at ``fid``; None without a trust region."""
        return None if self.trust is None else self.trust.distance(W, fid)

    def radius(self, fid: Fidelity) -> float | None:
        """Trusted TV distance from logged mixtures at ``fid``; None without a trust region."""
        return None if self.trust is None else self.trust.radius_at(fid)

    def trusted(self, W: np.ndarray, fid: Fidelity) -> np.ndarray:
        """``(n, K) -> (n,)`` bool: inside the trust region (all True without one)."""
        if self.trust is None:
            return np.ones(np.atleast_2d(W).shape[0], dtype=bool)
        return self.trust.inside(W, fid)


def _mix(u) -> Mixture:
    return u.mixture if hasattr(u, "mixture") else u[0]


def _fid(u) -> Fidelity:
    return u.fidelity if hasattr(u, "fidelity") else u[1]
