"""Gaussian-process surrogates over mixture x fidelity, fitted with BoTorch/GPyTorch in double precision.

Kernels (``GPConfig.kernel``):

- ``linear_truncated``: BoTorch's ``SingleTaskMultiFidelityGP`` with the linear-truncated fidelity
  kernel over the two fidelity columns (scale ``s`` = data fidelity, steps ``t`` = iteration fidelity).
- ``exp_decay``: the same model with ``linear_truncated=False``: RBF(w) x ExponentialDecay(t) x
  Downsampling(s).
- ``product``: ``SingleTaskGP`` with an ARD RBF/Matern kernel over all columns (a product of
  one-dimensional kernels, the MFMS paper's choice).

Hyperparameters are refitted from scratch or warm-started from a previous fit's state (a plain dict of
lists, JSON-serialisable, so the policy can store it with its specs and rebuild exactly on resume).
Numerical failures (Cholesky) fall back to more jitter, then to a fit from defaults, and are logged.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood, GaussianLikelihood
from gpytorch.means import LinearMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator import settings as lo_settings

log = logging.getLogger("bomix.surrogate")
DTYPE = torch.double


@dataclass(frozen=True)
class GPConfig:
    """How to build and fit the GP.

    Attributes:
        kernel: ``linear_truncated`` | ``exp_decay`` | ``product``.
        matern_nu: smoothness of Matern kernels (``product`` uses RBF when None).
        fixed_noise: a fixed noise variance on the raw outcome (the MFMS paper's 0.1) instead of inferred
            noise; disables standardisation (as in the paper).
        linear_mean: a linear mean function (the MFMS paper) instead of a constant.
        min_noise: lower bound on the inferred noise variance (standardised units).
        maxiter: L-BFGS iterations per fit.
    """

    kernel: str = "linear_truncated"
    matern_nu: float | None = 2.5
    fixed_noise: float | None = None
    linear_mean: bool = False
    min_noise: float = 1e-6
    maxiter: int = 75

    def __post_init__(self) -> None:
        if self.kernel not in ("linear_truncated", "exp_decay", "product"):
            raise ValueError(f"unknown kernel {self.kernel!r}: use linear_truncated, exp_decay or product")


def build_gp(X: torch.Tensor, Y: torch.Tensor, cfg: GPConfig) -> SingleTaskGP:
    """An unfitted model.

    Args:
        X: ``n x (K + 2)`` inputs; the last two columns are ``s`` and ``t``.
        Y: ``n x 1`` outcomes to MAXIMISE (callers pass ``-loss``).
    """
    d = X.shape[-1]
    if cfg.fixed_noise is not None:
        lik = FixedNoiseGaussianLikelihood(noise=torch.full_like(Y.squeeze(-1), cfg.fixed_noise))
        otf = None
    else:
        lik = GaussianLikelihood(noise_constraint=GreaterThan(cfg.min_noise))
        otf = Standardize(m=1)
    if cfg.kernel == "product":
        base = (MaternKernel(nu=cfg.matern_nu, ard_num_dims=d) if cfg.matern_nu
                else RBFKernel(ard_num_dims=d))
        model = SingleTaskGP(X, Y, likelihood=lik, covar_module=ScaleKernel(base), outcome_transform=otf)
    else:
        model = SingleTaskMultiFidelityGP(
            X, Y, data_fidelities=[d - 2], iteration_fidelity=d - 1,
            linear_truncated=cfg.kernel == "linear_truncated", nu=cfg.matern_nu or 2.5,
            likelihood=lik, outcome_transform=otf)
    if cfg.linear_mean:
        model.mean_module = LinearMean(d).to(X)
    return model.to(X)


def hypers_of(model) -> dict[str, list]:
    """The model's raw hyperparameters as a JSON-serialisable dict (for warm starts)."""
    return {k: v.detach().cpu().reshape(-1).tolist() for k, v in model.named_parameters()}


def _load_hypers(model, state: dict[str, list]) -> bool:
    params = dict(model.named_parameters())
    if set(params) != set(state) or any(params[k].numel() != len(v) for k, v in state.items()):
        return False
    with torch.no_grad():
        for k, v in state.items():
            params[k].copy_(torch.tensor(v, dtype=params[k].dtype).reshape(params[k].shape))
    return True


def _accept(w: warnings.WarningMessage) -> bool:
    """Accept a fit that ended with a warning (iteration limit, added jitter) unless it is NaN trouble."""
    return "nan" not in str(w.message).lower()


def fit_gp(X: torch.Tensor, Y: torch.Tensor, cfg: GPConfig, warm: dict | None = None,
           frozen: bool = False) -> SingleTaskGP:
    """Build and fit a GP, warm-started from ``warm`` hyperparameters when they fit the model.

    Args:
        X: ``n x (K + 2)`` inputs (double). Y: ``n x 1`` outcomes to maximise.
        warm: hyperparameters from :func:`hypers_of`.
        frozen: load ``warm`` and do not optimise (the MFMS paper freezes them after the initial design).

    Returns:
        The fitted model in eval mode. Never raises for numerical trouble: falls back (more jitter, then
        defaults, then the unfitted prior) and logs a warning.
    """
    X, Y = X.to(DTYPE), Y.to(DTYPE)
    model = build_gp(X, Y, cfg)
    loaded = bool(warm) and _load_hypers(model, warm)
    if frozen and loaded:
        return model.eval()
    attempts = [("warm start" if loaded else "defaults", model, 1e-6)]
    attempts += [("more jitter", None, 1e-4), ("defaults + jitter", None, 1e-3)]
    for label, m, jitter in attempts:
        if m is None:
            m = build_gp(X, Y, cfg)
        try:
            with lo_settings.cholesky_jitter(double_value=jitter), warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizationWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                mll = ExactMarginalLogLikelihood(m.likelihood, m)
                fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": cfg.maxiter}},
                                 max_attempts=1 if label == "warm start" else 2, warning_handler=_accept)
            m.eval()
            _check_usable(m, X)
            if label not in ("warm start", "defaults"):
                log.warning("GP fit needed a fallback (%s)", label)
            return m
        except Exception as exc:  # noqa: BLE001 - numerical failures must not end a campaign
            log.warning("GP fit failed with %s (%s): %s", label, type(exc).__name__, str(exc).splitlines()[0][:200])
    log.warning("GP fit failed every fallback: using the prior with a large noise")
    m = build_gp(X, Y, cfg)
    if cfg.fixed_noise is None:
        m.likelihood.noise = 1e-2
    return m.eval()


def _check_usable(model, X: torch.Tensor) -> None:
    """Raise if predictions fail with default jitter (fits may pass only thanks to the fit-time jitter)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = model.posterior(X[:2]).mean
    if not torch.isfinite(mean).all():
        raise FloatingPointError("non-finite posterior mean")
