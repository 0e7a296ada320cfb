"""How good a mixture will be at the target: its values at the fidelities run so far, extrapolated by a scaling law.

A GP over ``[w, s, t]`` predicts the *differences* between mixtures well wherever runs exist, but the objective's
*level* at a scale nobody ran (the target, before any target run) is an extrapolation its stationary kernels do
not make: far from the data its mean reverts to the data's average (the proxies' much higher loss) with a kernel
sd that knows nothing of scaling (``benchmarks/calibration.py`` measured 1-sd coverage 0.00-0.14, the truth 4-15
sds better than predicted). The level follows a scaling law instead; so this module predicts a mixture's target
value from the GP's values of that mixture at every fidelity run so far (each with its GP sd), through

    y(s, t) = E + A exp(-a s) + ((1 - s) B_0 + s B_1) exp(-b t),   a = alpha log(N_target / N_min),
                                                                   b = beta log(T_target / T_min)

in the GP's fidelity coordinates (``s = log(N/N_min) / log(N_target/N_min)``, likewise ``t`` in steps), i.e.
Chinchilla's ``E + A / N^alpha + B / D^beta`` (Hoffmann et al. 2022) with the data term in steps and its size
free to change with scale (a small model's curve does not say how far a large one's falls: the data exponent
itself grows with scale in many fits). Bayesian and honest about what the runs do not identify:

- the exponents ``alpha, beta`` on a log grid over :attr:`LevelPrior.exponents`, averaged by marginal likelihood;
- ``E`` flat; ``A, B_0, B_1 >= 0`` (more parameters or steps never hurt: a half-normal prior of scale ``tau``, drawn
  from the Gaussian posterior and kept where positive); ``tau = relative_scale * |level|``: Chinchilla's fit puts
  each reducible term near 40% of the loss at ~1M parameters / 20M tokens (half-normal mean ``0.8 tau``);
- a misfit sd (the law is not exact: each fidelity's value deviates from it independently) on a grid, averaged
  the same way; the target's own deviation is part of the predictive sd.

With one scale run, ``A`` stays at its prior and the prediction says so with a wide sd; each further rung narrows
it, and target runs pin it. Pure numpy, deterministic (the draws come from a fixed seed): a prediction is a
function of the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Posterior draws per grid point (the truncation ``A, B >= 0`` is applied to them).
DRAWS = 256
#: Grid sizes of the exponents and of the misfit sd.
N_EXPONENTS = 9
MISFITS = (0.003, 0.01, 0.03, 0.1)
#: Fidelities per scale the law is fitted on (a run's checkpoints are many and strongly correlated).
MAX_STEPS_PER_SCALE = 8
#: E's prior sd, relative to the level's scale (flat in practice).
FLAT = 1e3


@dataclass(frozen=True)
class LevelPrior:
    """Prior of the level's scaling law.

    Attributes:
        exponents: range of the power-law exponents ``alpha`` (parameters) and ``beta`` (steps); the published
            fits lie inside (Kaplan et al. 2020: 0.076 / 0.095; Hoffmann et al. 2022: 0.34 / 0.28).
        relative_scale: the half-normal scale ``tau`` of each reducible term, relative to the level (the mean
            absolute value of the mixture's values across the fidelities run), floored by the outcome's spread.
    """

    exponents: tuple[float, float] = (0.05, 1.0)
    relative_scale: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.exponents
        if not 0 < lo <= hi:
            raise ValueError(f"level prior exponents must satisfy 0 < low <= high, got {self.exponents}")
        if self.relative_scale <= 0:
            raise ValueError(f"level prior relative_scale must be > 0, got {self.relative_scale}")


def extrapolate(st: np.ndarray, y: np.ndarray, var: np.ndarray, target: np.ndarray, log_ratios: np.ndarray,
                spread: float = 0.0, prior: LevelPrior = LevelPrior(), seed: int = 0) -> tuple[float, float]:
    """Mean and sd of ``y`` at ``target`` under the scaling law above.

    Args:
        st: ``(m, 2)`` fidelity coordinates ``[s, t]`` with values.
        y: ``(m,)`` values there (lower is better), ``var``: ``(m,)`` their variances (the GP's).
        target: ``(2,)`` the target's ``[s, t]``.
        log_ratios: ``(2,)`` ``log(N_target / N_min)`` and ``log(T_target / T_min)`` (0: that axis is a single rung).
        spread: the outcome's spread (sd over all observations): a floor of the level's scale.
    """
    st, y, var = np.atleast_2d(st).astype(float), np.asarray(y, float), np.asarray(var, float)
    level = max(float(np.mean(np.abs(y))), float(spread), 1e-12)
    tau = prior.relative_scale * level
    rng = np.random.default_rng(seed)
    exps = np.geomspace(*prior.exponents, N_EXPONENTS)
    rates = [exps * lr if lr > 0 else np.zeros(1) for lr in log_ratios]
    logw, means, sqs = [], [], []
    for a in rates[0]:
        for b in rates[1]:
            F = _features(st, a, b)  # (m, 4)
            ft = _features(np.atleast_2d(target), a, b)[0]  # (4,)
            for mis in MISFITS:
                lml, draws = _posterior(F, y, var + (mis * level) ** 2, tau, level, rng)
                keep = (draws[:, 1:] >= 0).all(axis=1)
                if not keep.any():
                    continue
                pred = draws[keep] @ ft
                logw.append(lml + np.log(keep.mean()))
                means.append(pred.mean())
                sqs.append(np.mean(pred ** 2) + (mis * level) ** 2)  # the target's own misfit
    w = np.exp(np.array(logw) - np.max(logw))
    w /= w.sum()
    mean = float(w @ np.array(means))
    return mean, float(np.sqrt(max(w @ np.array(sqs) - mean ** 2, 0.0)))


def level_points(st: np.ndarray, per_scale: int = MAX_STEPS_PER_SCALE) -> np.ndarray:
    """The distinct fidelity coordinates of ``st (n, 2)``, at most ``per_scale`` steps per scale (evenly spread over
    its sorted steps, the last kept): ``(m, 2)``."""
    st = np.unique(np.round(np.atleast_2d(st), 12), axis=0)
    out = []
    for s in np.unique(st[:, 0]):
        ts = st[st[:, 0] == s, 1]  # sorted by np.unique
        idx = np.unique(np.round(np.linspace(0, len(ts) - 1, min(per_scale, len(ts)))).astype(int))
        out.extend([s, ts[i]] for i in idx)
    return np.array(out, dtype=float)


def _features(st: np.ndarray, a: float, b: float) -> np.ndarray:
    """``(m, 2) -> (m, 4)``: ``[1, exp(-a s), (1 - s) exp(-b t), s exp(-b t)]``."""
    s, decay = st[:, 0], np.exp(-b * st[:, 1])
    return np.column_stack([np.ones(len(st)), np.exp(-a * s), (1 - s) * decay, s * decay])


def _posterior(F: np.ndarray, y: np.ndarray, noise: np.ndarray, tau: float, level: float,
               rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """Bayesian linear regression ``y ~ F theta + N(0, noise)``, ``theta ~ N(0, diag(FLAT level, tau, ...)^2)``
    (``E`` centred on the data's mean): ``(log marginal likelihood, (DRAWS, p) posterior draws)``."""
    p = F.shape[1]
    m0 = np.r_[float(np.mean(y)), np.zeros(p - 1)]
    P0 = np.diag(1.0 / np.r_[FLAT * level, np.full(p - 1, tau)] ** 2)
    Fi = F / noise[:, None]
    P = P0 + F.T @ Fi
    L = np.linalg.cholesky(P)
    mu = np.linalg.solve(P, P0 @ m0 + Fi.T @ y)
    # marginal likelihood of y: N(F m0, diag(noise) + F S0 F^T), by the matrix determinant lemma
    r = y - F @ m0
    quad = r @ (r / noise) - (Fi.T @ r) @ np.linalg.solve(P, Fi.T @ r)
    logdet = np.sum(np.log(noise)) + 2 * np.sum(np.log(np.diag(L))) - np.sum(np.log(np.diag(P0)))
    lml = -0.5 * (quad + logdet + len(y) * np.log(2 * np.pi))
    z = rng.standard_normal((DRAWS, p))
    draws = mu + np.linalg.solve(L.T, z.T).T  # cov = P^-1 = L^-T L^-1
    return float(lml), draws
