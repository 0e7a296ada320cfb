"""The regressor behind a model-mode replay simulator.

Per metric ``m``, with GP coordinates ``x = [w_1..w_K, s, t]`` (``bomix.space``):

    y_m(w, s, t) = mu_m(s, t) + sigma_m(s, t) * f_m(x),     f_m ~ GP(c, RBF-ARD),

- ``mu_m, sigma_m``: the mean and spread of the metric across mixtures at each logged fidelity
  (groups of >= ``MIN_GROUP`` runs), interpolated between fidelities by a thin-plate spline with a
  linear trend in the varying coordinates (exact at logged fidelities, linear beyond them);
- ``f_m``: a GP over the standardised residuals ``(y - mu) / sigma``, so mixture effects learnt on
  many cheap runs inform the few expensive ones through the ``s, t`` lengthscales.

The GP is fitted with BoTorch (``SingleTaskGP``, default RBF-ARD kernel with dimension-scaled priors,
learnt noise) and saved as plain arrays; prediction is numpy only (no torch at load time).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RBFInterpolator

from bomix.errors import BomixError

MIN_GROUP = 3
MAX_TRAIN = 700
#: rows the hyperparameters are first optimised on (a water-filled subsample of the MAX_TRAIN training
#: rows). The MLL fit costs ~n^3: on one core 700 rows take ~10 s per metric, 300 ~1 s.
HYPER_TRAIN = 300
#: L-BFGS iterations that then refine those hyperparameters on all MAX_TRAIN rows, warm-started (~1.5 s).
#: Shipped RegMix table, held-out objective R^2 vs a full 700-row fit: seed 0 +0.000/+0.002/+0.000 at
#: 1M/60M/1B, seed 1 -0.006/-0.004/-0.007 (Spearman within 0.002; 500 rows alone did the same), while 300
#: rows alone lost ~0.013 at 1M@1000 on both seeds; on the 23-metric build benchmark no verdict changed.
REFINE_ITERS = 30
CHUNK = 4096


class FidelityBaseline:
    """Interpolates a per-fidelity statistic over ``(s, t)``.

    Args:
        st: ``(g, 2)`` fidelity coordinates of the groups.
        values: ``(g,)`` statistic per group.
    """

    def __init__(self, st: np.ndarray, values: np.ndarray):
        self.st = np.asarray(st, dtype=float).reshape(-1, 2)
        self.values = np.asarray(values, dtype=float).reshape(-1)
        span = self.st.max(0) - self.st.min(0) if len(self.st) else np.zeros(2)
        self.cols = [j for j in range(2) if span[j] > 1e-12]
        self._f = None
        if len(self.st) >= 2 and self.cols:
            pts = self.st[:, self.cols]
            try:
                degree = 1 if len(self.st) > len(self.cols) else 0
                self._f = RBFInterpolator(pts, self.values, kernel="thin_plate_spline", degree=degree)
            except (np.linalg.LinAlgError, ValueError):
                self._f = None

    def __call__(self, st: np.ndarray) -> np.ndarray:
        """``(n, 2) -> (n,)``."""
        st = np.atleast_2d(np.asarray(st, dtype=float))
        if self._f is not None:
            return self._f(st[:, self.cols])
        d = ((st[:, None, :] - self.st[None]) ** 2).sum(-1)
        return self.values[np.argmin(d, axis=1)]


@dataclass
class MetricModel:
    """One metric's fitted model (all arrays, numpy prediction).

    Attributes:
        X: ``(n, D)`` GP training inputs; alpha: ``(n,)`` ``(K + noise I)^-1 (z - c)``;
        lengthscale: ``(D,)``; const: GP constant mean; noise: GP noise variance (standardised units);
        group_st: ``(g, 2)``; group_mu / group_logsd: ``(g,)`` baseline statistics per fidelity group.
    """

    X: np.ndarray
    alpha: np.ndarray
    lengthscale: np.ndarray
    const: float
    noise: float
    group_st: np.ndarray
    group_mu: np.ndarray
    group_logsd: np.ndarray

    def __post_init__(self) -> None:
        self._mu = FidelityBaseline(self.group_st, self.group_mu)
        self._lsd = FidelityBaseline(self.group_st, self.group_logsd)
        self._Xs = self.X / self.lengthscale
        self._Xn = (self._Xs ** 2).sum(1)

    def residual(self, x: np.ndarray) -> np.ndarray:
        """GP posterior mean of the standardised residual, ``(n, D) -> (n,)``."""
        out = np.empty(x.shape[0])
        for a in range(0, x.shape[0], CHUNK):
            xs = x[a:a + CHUNK] / self.lengthscale
            d2 = (xs ** 2).sum(1)[:, None] + self._Xn[None] - 2.0 * xs @ self._Xs.T
            out[a:a + CHUNK] = self.const + np.exp(-0.5 * np.maximum(d2, 0.0)) @ self.alpha
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(n, K + 2) -> (n,)`` metric values."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        st = x[:, -2:]
        return self._mu(st) + np.exp(self._lsd(st)) * self.residual(x)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_{k}": np.asarray(getattr(self, k), dtype=float)
                for k in ("X", "alpha", "lengthscale", "const", "noise", "group_st", "group_mu", "group_logsd")}

    @classmethod
    def from_arrays(cls, z, prefix: str) -> "MetricModel":
        g = lambda k: z[f"{prefix}_{k}"]  # noqa: E731
        return cls(g("X"), g("alpha"), g("lengthscale"), float(g("const")), float(g("noise")),
                   g("group_st"), g("group_mu"), g("group_logsd"))


def _baseline_groups(x: np.ndarray, y: np.ndarray, run_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and log-sd of ``y`` per fidelity ``(s, t)`` over groups of >= MIN_GROUP runs."""
    st = np.round(x[:, -2:], 12)
    keys, inv = np.unique(st, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    mus, lsds, pts = [], [], []
    for g in range(len(keys)):
        sel = inv == g
        if len(np.unique(run_ids[sel])) >= MIN_GROUP:
            pts.append(keys[g])
            mus.append(float(y[sel].mean()))
            lsds.append(float(np.log(max(y[sel].std(ddof=1), 1e-8))))
    if not pts:  # no fidelity has enough runs: one global level and spread
        sd = float(y.std(ddof=1)) if y.size > 1 else 1.0
        return np.array([x[:, -2:].mean(0)]), np.array([float(y.mean())]), np.array([np.log(max(sd, 1e-8))])
    return np.array(pts), np.array(mus), np.array(lsds)


def _subsample(st: np.ndarray, n_max: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``n_max`` rows, water-filled across fidelity groups (small groups kept whole)."""
    n = st.shape[0]
    if n <= n_max:
        return np.arange(n)
    _, inv = np.unique(np.round(st, 12), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    sizes = np.bincount(inv)
    lo, hi = 0, int(sizes.max())
    while lo < hi:  # largest per-group quota q with sum(min(size, q)) <= n_max
        q = (lo + hi + 1) // 2
        lo, hi = (q, hi) if np.minimum(sizes, q).sum() <= n_max else (lo, q - 1)
    keep = []
    for g, size in enumerate(sizes):
        idx = np.nonzero(inv == g)[0]
        keep.append(idx if size <= lo else rng.choice(idx, lo, replace=False))
    return np.sort(np.concatenate(keep))


def fit_metric(x: np.ndarray, y: np.ndarray, run_ids: np.ndarray, seed: int = 0,
               max_train: int = MAX_TRAIN, hyper: tuple[np.ndarray, float, float] | None = None,
               hyper_train: int = HYPER_TRAIN) -> MetricModel:
    """Fit one metric's model.

    Args:
        x: ``(n, K + 2)`` GP inputs ``[w, s, t]`` of the rows where the metric is measured.
        y: ``(n,)`` metric values.
        run_ids: ``(n,)`` run of each row (groups count runs, not rows).
        seed: subsampling seed.
        max_train: GP training points at most (water-filled over fidelity groups).
        hyper: ``(lengthscale (D,), constant, noise)`` to reuse (e.g. from the held-out fit): no
            hyperparameter optimisation, only the baseline and one linear solve (fast).
        hyper_train: rows the hyperparameters are first optimised on (a water-filled subsample of the
            ``max_train`` training rows); then ``REFINE_ITERS`` warm-started iterations on all of them,
            which the GP is conditioned on.

    Returns:
        The fitted :class:`MetricModel`.
    """
    if x.shape[0] < 3:
        raise BomixError(f"a metric has only {x.shape[0]} measured rows: model mode needs >= 3")
    gst, gmu, glsd = _baseline_groups(x, y, run_ids)
    mu = FidelityBaseline(gst, gmu)(x[:, -2:])
    sd = np.exp(FidelityBaseline(gst, glsd)(x[:, -2:]))
    z = (y - mu) / sd
    keep = _subsample(x[:, -2:], max_train, np.random.default_rng(seed))
    if hyper is None:
        sub = keep[_subsample(x[keep, -2:], max(3, int(hyper_train)), np.random.default_rng(seed + 1))]
        ls, const, noise = _fit_hyper(x[sub], z[sub], seed)
        if len(sub) < len(keep) and REFINE_ITERS > 0:
            ls, const, noise = _fit_hyper(x[keep], z[keep], seed, init=(ls, const, noise), maxiter=REFINE_ITERS)
    else:
        ls, const, noise = np.asarray(hyper[0], dtype=float).reshape(-1), float(hyper[1]), float(hyper[2])
    Xn = x[keep] / ls
    d2 = (Xn ** 2).sum(1)[:, None] + (Xn ** 2).sum(1)[None] - 2 * Xn @ Xn.T
    K = np.exp(-0.5 * np.maximum(d2, 0.0)) + (noise + 1e-8) * np.eye(len(keep))
    alpha = np.linalg.solve(K, z[keep] - const)
    return MetricModel(x[keep].copy(), alpha, ls, const, noise, gst, gmu, glsd)


def _fit_hyper(X: np.ndarray, z: np.ndarray, seed: int, init: tuple[np.ndarray, float, float] | None = None,
               maxiter: int = 200) -> tuple[np.ndarray, float, float]:
    """RBF-ARD lengthscales, constant mean and noise of a GP on ``(X (n, D), z (n,))`` (BoTorch MLL fit).

    ``init``: ``(lengthscale (D,), constant, noise)`` to start from (a warm start), else the priors'.
    """
    import torch
    from bomix.surrogate.numerics import NUMERICAL_ERRORS
    from botorch.exceptions.warnings import InputDataWarning
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    Xt = torch.as_tensor(X, dtype=torch.double)
    Zt = torch.as_tensor(z, dtype=torch.double).unsqueeze(-1)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)  # z is standardised per fidelity, not globally
        gp = SingleTaskGP(Xt, Zt, outcome_transform=None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small GPs: extra threads only oversubscribe shared cores (10-50x slower)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            if init is not None:
                gp.covar_module.lengthscale = torch.as_tensor(np.asarray(init[0], dtype=float)).reshape(1, -1)
                gp.mean_module.constant.data.fill_(float(init[1]))
                floor = float(gp.likelihood.noise_covar.raw_noise_constraint.lower_bound)
                gp.likelihood.noise = torch.tensor([max(float(init[2]), 1.5 * floor)], dtype=torch.double)
            mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": int(maxiter)}})
    except NUMERICAL_ERRORS as exc:  # numerical: keep the prior hyperparameters
        logging.getLogger("bomix").warning("GP fit did not converge (%s); using prior hyperparameters", exc)
    finally:
        torch.set_num_threads(threads)
    gp.eval()
    ls = gp.covar_module.lengthscale.detach().reshape(-1).numpy().astype(float)
    return ls, float(gp.mean_module.constant.detach()), float(gp.likelihood.noise.detach().reshape(-1)[0])
