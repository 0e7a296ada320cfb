"""The polytope of a multi-phase space (:class:`bomix.phases.PhasedSpace`): the exact Euclidean projection onto it
and sampling inside it, never by rejection.

The polytope: ``x >= 0``, ``sum x = 1``, each phase's share ``sum_i x_{p,i}`` in its range, each pinned phase's
block equal to its fixed ``f_p w_p``, and the whole run's shares ``sum_p x_{p,i}`` within the problem's bounds (and
repetition cap). :class:`PhasePolytope` is a mixin of :class:`~bomix.phases.PhasedSpace`, which supplies the
structure it reads (``phases``, ``base``, ``blocks``, ``compose``, ``feasible``, ``center``, the pinned blocks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bomix.errors import BomixError
from bomix.fidelity import Fidelity
from bomix.space import _project

#: Dykstra iterations of the projection (stops earlier once every constraint holds to 1e-10)
MAX_ITER = 2000


class PhasePolytope:
    """Projection and sampling of a :class:`~bomix.phases.PhasedSpace` (module docstring)."""

    def project(self, w: np.ndarray, fid: Fidelity | None = None) -> np.ndarray:
        """Euclidean projection of ``(n, P*K)`` points onto the space: exact onto the phases' polytope
        (:meth:`_project_phases`), then, with active whole-run bounds, Dykstra's algorithm between it and them."""
        w = np.atleast_2d(np.asarray(w, dtype=float))
        lo, up = self._aggregate_bounds(fid)
        if lo.sum() > 1 + 1e-9 or up.sum() < 1 - 1e-9:
            raise BomixError("the repetition cap leaves no feasible mixture at this fidelity")
        x = self._project_phases(w)
        if not self._aggregate_active(fid):
            return x
        sets = [self._project_phases, lambda z: self._project_aggregate(z, lo, up)]
        incr = [np.zeros_like(w) for _ in sets]
        x = w.copy()
        for i in range(MAX_ITER):
            for j, proj in enumerate(sets):
                y = x + incr[j]
                x = proj(y)
                incr[j] = y - x
            if i % 10 == 9 and bool(np.all(self.feasible(x, fid, tol=1e-9))):
                break
        return self._project_phases(x)

    def _project_phases(self, w: np.ndarray) -> np.ndarray:
        """Exact projection of ``(n, P*K)`` rows onto ``{x >= 0, sum x = 1, lo_p <= sum x_p <= hi_p}``: phase ``p``'s
        share at the optimum is ``clip(sum_i max(y_{p,i} - lam, 0), lo_p, hi_p)`` for the one ``lam`` that makes the
        shares sum to 1 (bisection), and each block is then projected onto its scaled simplex."""
        b = self.blocks(w)
        lo, hi = self.phases.lo, self.phases.hi
        if self.phases.fixed:
            return self._pin_blocks(self._project_blocks(w, lo))
        a = b.reshape(b.shape[0], -1).min(axis=1) - 1.0
        c = b.reshape(b.shape[0], -1).max(axis=1)
        for _ in range(100):
            mid = 0.5 * (a + c)
            share = np.clip(np.clip(b - mid[:, None, None], 0, None).sum(-1), lo, hi).sum(-1)
            big = share > 1
            a = np.where(big, mid, a)
            c = np.where(big, c, mid)
        f = np.clip(np.clip(b - 0.5 * (a + c)[:, None, None], 0, None).sum(-1), lo, hi)
        f = _project(f, lo, hi)  # exact sum 1 within the ranges
        k = self.base.k
        out = np.stack([f[:, p:p + 1] * _project(b[:, p] / f[:, p:p + 1], np.zeros(k), np.ones(k))
                        for p in range(self.phases.n)], axis=1)
        return self._pin_blocks(out.reshape(w.shape))

    def _project_blocks(self, w: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Each block onto ``{x_p >= 0, sum x_p = f_p}`` (a scaled simplex: ``f P(y / f)``)."""
        b = self.blocks(w)
        out = np.empty_like(b)
        k = self.base.k
        for p, fp in enumerate(f):
            out[:, p] = fp * _project(b[:, p] / fp, np.zeros(k), np.ones(k))
        return out.reshape(w.shape)

    def _project_aggregate(self, w: np.ndarray, lo: np.ndarray, up: np.ndarray) -> np.ndarray:
        b = self.blocks(w)
        a = b.sum(1)
        shift = (np.clip(a, lo, up) - a) / self.phases.n
        return (b + shift[:, None, :]).reshape(w.shape)

    def sample(self, n: int, rng: np.random.Generator, alpha: float | Sequence[float] = 1.0,
               fid: Fidelity | None = None) -> np.ndarray:
        """Draw ``(n, P*K)`` points, never by rejection: fractions uniform on their ranges (projected Dirichlet),
        each phase ``Dirichlet(alpha)``; with active whole-run bounds, hit-and-run on the polytope instead
        (uniform in the limit; ``alpha`` ignored), as :meth:`Space.sample` does."""
        if self._aggregate_active(fid):
            return self._walk(n, rng, fid)
        f = self._sample_fractions(n, rng)
        alpha_v = np.broadcast_to(np.asarray(alpha, dtype=float), (self.base.k,))
        w = rng.dirichlet(alpha_v, size=(n, self.phases.n))
        return self._pin_blocks(self.compose(w, f))

    def _sample_fractions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.phases.lo, self.phases.hi
        if self.phases.fixed:
            return np.broadcast_to(lo, (n, lo.size)).copy()
        free = 1.0 - lo.sum()
        return _project(lo + free * rng.dirichlet(np.ones(lo.size), size=n), lo, hi)

    def _walk(self, n: int, rng: np.random.Generator, fid: Fidelity | None, steps: int = 200) -> np.ndarray:
        """``n`` parallel hit-and-run chains of ``steps`` moves from the centre, inside
        ``{x >= 0, sum x = 1, lo_f <= E x <= hi_f, lo <= A x <= up}`` (equalities kept by the direction)."""
        P, k = self.phases.n, self.base.k
        lo, up = self._aggregate_bounds(fid)
        E = self._E
        A = np.tile(np.eye(k), (1, P))  # (K, P*K): whole-run shares
        eq = [np.ones((1, P * k))] + [E[p:p + 1] for p in range(P) if self.phases.phases[p].fixed
                                      and not self._pinned[p]]
        eq += [np.eye(P * k)[p * k: (p + 1) * k] for p in range(P) if self._pinned[p]]  # pinned: no move at all
        Q = np.linalg.qr(np.vstack(eq).T)[0]  # orthonormal basis of the equalities' row space
        G = np.vstack([-np.eye(P * k), E, -E, A, -A])
        h = np.concatenate([np.zeros(P * k), self.phases.hi, -self.phases.lo, up, -lo])
        x = np.repeat(self.center(fid).weights[None], n, axis=0)
        for _ in range(steps):
            d = rng.standard_normal(x.shape)
            d -= (d @ Q) @ Q.T
            d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-300
            gd, slack = d @ G.T, h[None] - x @ G.T  # move t allowed while t * gd <= slack
            with np.errstate(divide="ignore", invalid="ignore"):
                r = slack / gd
            tmax = np.min(np.where(gd > 1e-12, r, np.inf), axis=1)
            tmin = np.max(np.where(gd < -1e-12, r, -np.inf), axis=1)
            tmax, tmin = np.maximum(tmax, 0.0), np.minimum(tmin, 0.0)
            x = x + rng.uniform(tmin, tmax)[:, None] * d
        return self.project(np.clip(x, 0.0, None), fid)
