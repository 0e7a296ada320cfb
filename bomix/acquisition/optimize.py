"""Maximise an acquisition over mixtures on the simplex, for each fidelity of a discrete grid.

Raw candidates (uniform Dirichlet draws, vertices, edge midpoints, caller-given points such as observed
mixtures) are scored in one batch; the best become starts of a projected-gradient ascent whose
Euclidean projection onto {lower <= w <= upper, sum w = 1} (``Space.project``) reaches exact zeros on
the boundary, which softmax or stick-breaking coordinates never do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bomix.space import Fidelity, Space

AcqFn = Callable[[torch.Tensor, np.ndarray], torch.Tensor]


@dataclass(frozen=True)
class OptimizerConfig:
    """Sizes of the search (small values for tests, like BoTorch's SMOKE_TEST): a GP policy's ``search`` option
    group (each policy's preset states only the fields that differ, e.g. :data:`bomix.policies.bo.mfbo.MFBO_SEARCH`).

    Attributes:
        raw_samples: raw candidates per fidelity, scored in one batch.
        starts: best raw candidates refined by projected-gradient ascent (plus the best one per fidelity).
        iters: ascent iterations per start.
        step: first ascent step (it decays linearly to 0 over ``iters``).
    """

    raw_samples: int = 128
    starts: int = 6
    iters: int = 30
    step: float = 0.08


def candidate_mixtures(space: Space, rng: np.random.Generator, n: int, extra: np.ndarray | None = None,
                       fid: Fidelity | None = None) -> np.ndarray:
    """``(m, K)`` raw candidates: Dirichlet(1) and Dirichlet(0.3) draws, vertices, edge midpoints, ``extra``."""
    k = space.k
    eye = np.eye(k)
    edges = np.array([0.5 * (eye[i] + eye[j]) for i in range(k) for j in range(i + 1, k)]) if k <= 12 else eye
    parts = [space.sample(n // 2, rng, 1.0, fid), space.sample(n - n // 2, rng, 0.3, fid), eye, edges]
    if extra is not None and len(extra):
        parts.append(np.atleast_2d(extra))
    return space.project(np.vstack(parts), fid)


def maximize(acq: AcqFn, space: Space, fids: Sequence[Fidelity], rng: np.random.Generator,
             cfg: OptimizerConfig = OptimizerConfig(raw_samples=512, starts=8, iters=40),
             extra: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
    """Best mixture and fidelity index for ``acq``.

    Args:
        acq: ``acq(W, fid_idx)`` with ``W`` a ``b x K`` double tensor and ``fid_idx`` a ``(b,)`` int array of
            indices into ``fids``; returns ``(b,)`` values (differentiable in ``W``). Larger is better.
        fids: the fidelities to consider.
        extra: ``(m, K)`` extra raw candidates (e.g. observed mixtures).

    Returns:
        ``(w (K,), fid_index, value)``.
    """
    G = len(fids)
    raw = [candidate_mixtures(space, rng, cfg.raw_samples, extra, f) for f in fids]
    W = np.vstack(raw)
    gi = np.concatenate([np.full(len(r), g) for g, r in enumerate(raw)])
    with torch.no_grad():
        vals = _batched(acq, W, gi)
    order = np.argsort(-vals)
    starts = list(order[: cfg.starts])
    for g in range(G):  # one start per fidelity too, so no fidelity is judged by its raw samples alone
        idx = np.nonzero(gi == g)[0]
        starts.append(idx[np.argmax(vals[idx])])
    starts = np.unique(np.array(starts))
    w, g = W[starts].copy(), gi[starts]
    best_w, best_v = w.copy(), vals[starts].copy()
    for it in range(cfg.iters):
        x = torch.tensor(w, dtype=torch.double, requires_grad=True)
        v = acq(x, g)
        grad = torch.autograd.grad(v.sum(), x)[0].numpy()
        grad = grad - grad.mean(axis=1, keepdims=True)  # tangent to the simplex
        scale = np.abs(grad).max(axis=1, keepdims=True)
        lr = cfg.step * (1.0 - it / cfg.iters)
        w = w + lr * grad / np.where(scale > 0, scale, 1.0)
        for gg in np.unique(g):
            rows = g == gg
            w[rows] = space.project(w[rows], fids[gg])
        with torch.no_grad():
            nv = _batched(acq, w, g)
        better = nv > best_v
        best_w[better], best_v[better] = w[better], nv[better]
    i = int(np.argmax(best_v))
    return best_w[i], int(g[i]), float(best_v[i])


def _batched(acq: AcqFn, W: np.ndarray, gi: np.ndarray, chunk: int = 4096) -> np.ndarray:
    out = []
    for a in range(0, len(W), chunk):
        out.append(acq(torch.tensor(W[a:a + chunk], dtype=torch.double), gi[a:a + chunk]).detach().numpy())
    v = np.concatenate(out) if out else np.zeros(0)
    return np.where(np.isfinite(v), v, -np.inf)


def maximize_logits(acq: AcqFn, space: Space, fids: Sequence[Fidelity], rng: np.random.Generator,
                    restarts: int = 5, raw_samples: int = 256, bound: float = 3.0, maxiter: int = 50,
                    ) -> tuple[np.ndarray, int, float]:
    """The MFMS paper's optimiser: softmax over logits in ``[-bound, bound]^K``, L-BFGS-B, restarts.

    Raw logits are drawn uniformly in the box for every fidelity and scored; the ``restarts`` best
    (logits, fidelity) pairs are refined by L-BFGS-B with the fidelity fixed. The best mixture is
    finally projected onto the space's bounds (softmax never reaches exact zeros: the paper's limit).

    Returns:
        ``(w (K,), fid_index, value)``.
    """
    from scipy.optimize import minimize

    k, G = space.k, len(fids)
    Z = rng.uniform(-bound, bound, size=(raw_samples * G, k))
    gi = np.repeat(np.arange(G), raw_samples)
    with torch.no_grad():
        vals = _batched(acq, _softmax(Z), gi)
    best_z, best_g, best_v = None, 0, -np.inf
    for i in np.argsort(-vals)[:restarts]:
        g = np.array([gi[i]])

        def f(z: np.ndarray) -> tuple[float, np.ndarray]:
            zt = torch.tensor(z[None], dtype=torch.double, requires_grad=True)
            v = acq(torch.softmax(zt, dim=-1), g).sum()
            if not torch.isfinite(v):
                return 1e6, np.zeros_like(z)
            (grad,) = torch.autograd.grad(v, zt)
            return -float(v.detach()), -grad.numpy()[0]

        res = minimize(f, Z[i], jac=True, method="L-BFGS-B", bounds=[(-bound, bound)] * k,
                       options={"maxiter": maxiter})
        v = -float(res.fun) if np.isfinite(res.fun) else -np.inf
        if v < vals[i]:
            v, res.x = vals[i], Z[i]
        if v > best_v:
            best_z, best_g, best_v = res.x, int(gi[i]), v
    w = space.project(_softmax(best_z[None]), fids[best_g])[0]
    return w, best_g, float(best_v)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
