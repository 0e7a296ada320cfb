"""Shrink a recommendation towards the prior mixture, as far as the evidence at the target allows.

A GP policy's recommendation ``x*`` is the argmax of its target posterior. Far from runs at the target fidelity that
posterior is the proxies' surface plus the model's guess of the proxy-to-target shift, and the argmax of a proxy's
surface is often more extreme (more weight on fewer domains) than the target's optimum: on the README demo's
problem the 1M and 60M optima put 0.81 on Pile-CC, the 1B optimum 0.63 (``benchmarks/proxy_oracle.py``). The field's
practice hedges towards the prior (RegMix averages its 128 best mixtures; Olmix pulls towards the prior by a KL
term). This rule does it with the policy's own posterior:

    among the mixtures ``x(l) = p + l (x* - p)`` on the segment from the prior ``p`` to ``x*``, take the one nearest
    the prior (smallest ``l``) such that for every ``l' >= l`` the argmax's predicted advantage at the target,
    ``E[f(x*) - f(x(l'))]``, is at most ``z`` posterior sds of that difference.

The joint posterior of the pair is used, so an uncertain level (shared by both) does not count, only uncertainty
about the difference. Where target evidence pins the difference (runs at or near the target around both points),
its sd is small and the recommendation stays at ``x*``; where the difference rests on extrapolation from the
proxies, it moves towards the prior until the evidence says the move costs more than ``z`` sds. ``z = inf`` would
be the prior itself, ``z = 0`` the argmax.

A second rule, ``pbest``, has no threshold: the expected position of the segment's best point under the joint posterior,
``E[argmax_l f(x(l))]`` (by :data:`SAMPLES` posterior draws on the grid), i.e. the centre of the segment weighted by
each point's probability of being its best.

The prior ``p`` is the initial design's (RegMix's: token shares ** 0.5, uniform without token counts), projected onto
the space's bounds; the segment lies in the space because the space is convex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bomix.errors import BomixError

#: points on the segment from the prior (l = 0) to the argmax (l = 1)
GRID = 41
#: joint posterior draws on the grid for the ``pbest`` rule
SAMPLES = 4000


@dataclass(frozen=True)
class Shrink:
    """One shrunk recommendation: the chosen point ``weights (K,)`` at ``lam`` on the segment, the argmax's predicted
    advantage there (``advantage``, objective units, >= 0 means the argmax is predicted better) and its sd."""

    weights: np.ndarray
    lam: float
    advantage: float
    sd: float

    def info(self) -> dict:
        return {"lambda": round(self.lam, 4), "advantage": self.advantage, "advantage_sd": self.sd}


def segment(prior: np.ndarray, x_star: np.ndarray, n: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """``(lams (n,), W (n, K))``: points ``prior + l (x_star - prior)`` for ``l`` evenly in [0, 1]."""
    lams = np.linspace(0.0, 1.0, n)
    return lams, prior[None] + lams[:, None] * (x_star - prior)[None]


def _joint(model, at_target, W: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean ``(n,)`` and covariance ``(n, n)`` of the maximised objective at the target at ``W (n, K)``."""
    with torch.no_grad():
        post = model.posterior(at_target(torch.as_tensor(W, dtype=torch.double)))
        return post.mean.squeeze(-1).double(), post.distribution.covariance_matrix.double()


def shrink(model, at_target, prior: np.ndarray, x_star: np.ndarray, z: float | str, n: int = GRID,
           seed: int = 0) -> Shrink:
    """The point of the segment prior -> ``x_star`` nearest the prior that is within ``z`` sds of ``x_star`` here and
    everywhere beyond it (see the module docstring); ``z = "pbest"``: the expected position of the segment's best point
    (draws seeded by ``seed``). ``model``'s posterior is of the maximised objective (``-loss``); ``at_target`` maps
    ``(m, K)`` mixtures to its inputs at the target fidelity."""
    prior, x_star = np.asarray(prior, dtype=float), np.asarray(x_star, dtype=float)
    lams, W = segment(prior, x_star, n)
    mean, cov = _joint(model, at_target, W)
    adv = (mean[-1] - mean).numpy()  # E[f(x*) - f(x(l))]: how much better the argmax is predicted
    var = (torch.diagonal(cov) + cov[-1, -1] - 2.0 * cov[:, -1]).clamp_min(1e-18).numpy()
    if z == "pbest":
        jitter = 1e-9 * float(torch.diagonal(cov).mean().clamp_min(1e-12))
        L = np.linalg.cholesky(cov.numpy() + jitter * np.eye(n))
        draws = mean.numpy()[None] + np.random.default_rng(seed).standard_normal((SAMPLES, n)) @ L.T
        lam = float(lams[np.argmax(draws, 1)].mean())
        x = prior + lam * (x_star - prior)
        mean_x, cov_x = _joint(model, at_target, np.vstack([x, x_star]))
        adv_x = float(mean_x[1] - mean_x[0])
        return Shrink(x, lam, adv_x, float((cov_x[0, 0] + cov_x[1, 1] - 2 * cov_x[0, 1]).clamp_min(0).sqrt()))
    ok = adv <= float(z) * np.sqrt(var)
    ok[-1] = True
    i = len(ok) - 1
    while i > 0 and ok[i - 1]:
        i -= 1
    return Shrink(W[i], float(lams[i]), float(adv[i]), float(np.sqrt(var[i])) if i < len(ok) - 1 else 0.0)


def shrink_rule(policy: str, value) -> float | str | None:
    """A checked ``rec_shrink``: None, a number of sds >= 0, or ``"pbest"``; else a one-line :class:`BomixError`."""
    if value is None or value == "pbest":
        return value
    try:
        z = float(value)
    except (TypeError, ValueError):
        z = float("nan")
    if not 0.0 <= z < float("inf"):
        raise BomixError(f"{policy}: rec_shrink must be a number of sds >= 0, 'pbest' or null, got {value!r}")
    return z
