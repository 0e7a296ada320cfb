"""Gaussian-process surrogates over mixture x fidelity, fitted with BoTorch/GPyTorch in double precision.

Kernels (``GPConfig.kernel``):

- ``product``: ``SingleTaskGP`` with an ARD Matern/RBF kernel over all columns (a product of
  one-dimensional kernels, the MFMS paper's choice).
- ``linear_truncated``: BoTorch's ``SingleTaskMultiFidelityGP`` with the linear-truncated fidelity
  kernel over the two fidelity columns (scale ``s`` = data fidelity, steps ``t`` = iteration fidelity).
- ``exp_decay``: the same model with ``linear_truncated=False``: RBF(w) x ExponentialDecay(t) x
  Downsampling(s).

``GPConfig.level`` adds a kernel over the two fidelity columns only (the loss level's smooth change across
scale and steps, with its own amplitude, so the kernel over all columns models the mixture effects at
their own, much smaller, amplitude). ``GPConfig.invariant`` adds a Matern kernel over the mixture columns
only: a mixture effect shared by every fidelity (rank invariance across scale, as a prior the data can
overrule), which transfers to the target in full, while the kernel over all columns keeps the
fidelity-specific part (damped by its fidelity lengthscales). Without it, everything the GP learns about
mixtures at the proxies reaches the target only through the fidelity correlation, which is unidentified
while one fidelity has been run, and the law basis' fidelity-free terms dominate the target's posterior
mean. ``GPConfig.law`` adds the mixing-law basis kernel (:mod:`bomix.surrogate.law`) to any of them, and
``GPConfig.offset`` an independent level per fidelity (:mod:`bomix.surrogate.offset`).

Many observations: hyperparameters are fitted on at most ``fit_max_obs`` of them (every target-fidelity
point, the best ones, then a seeded random rest), warm-started from a previous fit's state (a plain dict
of lists, JSON-serialisable, so a policy stores it with its specs and a resumed campaign rebuilds exactly);
the returned model is then the exact GP conditioned on ALL observations with those hyperparameters.
Numerical failures (:data:`bomix.surrogate.numerics.NUMERICAL_ERRORS`) fall back to more jitter, then to a
fit from defaults, then to the prior; each fallback is reported to ``on_fallback`` (the policy counts it in
its diagnostics) and logged at DEBUG, except the prior (every attempt failed), logged at WARNING.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from botorch.exceptions.warnings import OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import SQRT2, SQRT3
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood, GaussianLikelihood
from gpytorch.means import LinearMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from linear_operator import settings as lo_settings

from bomix.surrogate.law import LawKernel, check_shift_init
from bomix.surrogate.numerics import NUMERICAL_ERRORS
from bomix.surrogate.offset import FidelityOffsetKernel
from bomix.surrogate.run_noise import RunNoiseLikelihood

log = logging.getLogger("bomix.surrogate")
DTYPE = torch.double
KERNELS = ("product", "linear_truncated", "exp_decay")
#: ``GPConfig.lengthscale_prior``'s floor on every lengthscale (BoTorch's, for numerical stability).
MIN_LENGTHSCALE = 0.025
#: Fraction of the fit subsample reserved for the best observations (the incumbent's neighbourhood).
BEST_FRACTION = 0.2
#: Cholesky jitter of each fit attempt: (label, jitter, start from the warm state?).
ATTEMPTS = (("first", 1e-6, True), ("more jitter", 1e-4, False), ("defaults + jitter", 1e-3, False))


@dataclass(frozen=True)
class GPConfig:
    """How to build and fit the GP: a GP policy's ``gp`` option group (each policy's preset states only the
    fields that differ from these defaults, e.g. :data:`bomix.policies.bo.mfbo.MFBO_GP`).

    Attributes:
        kernel: ``product`` | ``linear_truncated`` | ``exp_decay``.
        law: add the mixing-law basis kernel (a Bayesian linear law in w, s, t; see ``bomix.surrogate.law``).
        level: add a Matern kernel over the fidelity columns ``(s, t)`` only (the level across fidelities).
        invariant: add a Matern kernel over the mixture columns only (a fidelity-invariant mixture effect).
        law_log: add the law basis' ``log(w_i + eps)`` group (``bomix.surrogate.law``).
        law_shift_init: starting variance of the law basis' shift groups (None: the middle of the bounds).
        offset: add an independent level offset per fidelity (``bomix.surrogate.offset``).
        cold_start: with a warm start, also fit from the defaults and keep the fit with the higher marginal
            likelihood (a model of several additive parts can drift, warm start after warm start, into a
            poor basin that explains the data by the wrong part).
        matern_nu: smoothness of Matern kernels (``product`` uses RBF when None).
        fixed_noise: a fixed noise variance on the raw outcome (the MFMS paper's 0.1) instead of inferred
            noise; disables standardisation (as in the paper).
        linear_mean: a linear mean function (the MFMS paper) instead of a constant.
        run_noise: a per-run random effect in the noise (``bomix.surrogate.run_noise``): a run's checkpoints share
            an offset, so they are not independent measurements (inferred noise only).
        min_noise: lower bound on the inferred noise variance (standardised units).
        maxiter: L-BFGS iterations per fit.
        fit_max_obs: hyperparameters are fitted on at most this many observations; the model conditions
            on all of them.
        lengthscale_prior: a dimension-scaled log-normal prior on the lengthscales of the ``product``, ``level`` and
            ``invariant`` kernels (Hvarfner et al. 2024, "Vanilla Bayesian optimization performs great in high
            dimensions": ``LogNormal(sqrt 2 + log(d) / 2, sqrt 3)`` for a kernel over ``d`` columns, started at its
            mode, floored at 0.025), so the fit is a MAP estimate instead of maximum likelihood: long lengthscales
            unless the data ask for short ones (BoTorch's default for its own kernels).
        posterior_chunk: acquisitions evaluate the posterior at a batch of candidates as joint posteriors of at
            most this many points (0: one q-batch of single points, whose kernels broadcast every training
            input over the batch: slow at thousands of observations); see
            :func:`bomix.acquisition.analytic.pointwise`.
    """

    kernel: str = "product"
    law: bool = False
    level: bool = False
    invariant: bool = False
    law_log: bool = False
    law_shift_init: float | None = None
    offset: bool = False
    cold_start: bool = False
    matern_nu: float | None = 2.5
    fixed_noise: float | None = None
    linear_mean: bool = False
    run_noise: bool = False
    min_noise: float = 1e-6
    maxiter: int = 60
    fit_max_obs: int = 400
    lengthscale_prior: bool = False
    posterior_chunk: int = 0

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}: use one of {', '.join(KERNELS)}")
        if self.law_shift_init is not None:
            check_shift_init(self.law_shift_init)
        if self.fit_max_obs < 2:
            raise ValueError(f"fit_max_obs must be >= 2, got {self.fit_max_obs}")
        if self.run_noise and self.fixed_noise is not None:
            raise ValueError("run_noise needs inferred noise: set fixed_noise to null or run_noise to false")
        if self.posterior_chunk < 0:
            raise ValueError(f"posterior_chunk must be >= 0 (0: off), got {self.posterior_chunk}")


def build_gp(X: torch.Tensor, Y: torch.Tensor, cfg: GPConfig, prior=None) -> SingleTaskGP:
    """An unfitted model.

    Args:
        X: ``n x (K + 2)`` inputs; the last two columns are ``s`` and ``t``.
        Y: ``n x 1`` outcomes to MAXIMISE (callers pass ``-loss``).
        prior: earlier campaigns' tasks (:class:`bomix.surrogate.transfer.TransferPrior`): their transfer mean
            replaces the mean function (None: the plain model).
    """
    d, nu = X.shape[-1], cfg.matern_nu or 2.5  # the added kernels are Matern even when ``product`` is RBF
    if cfg.fixed_noise is not None:
        lik = FixedNoiseGaussianLikelihood(noise=torch.full_like(Y.squeeze(-1), cfg.fixed_noise))
        otf = None
    else:
        lik = (RunNoiseLikelihood(cfg.min_noise) if cfg.run_noise
               else GaussianLikelihood(noise_constraint=GreaterThan(cfg.min_noise)))
        otf = Standardize(m=1)
    if cfg.kernel == "product":
        base = _stationary(cfg, cfg.matern_nu, d)
        model = SingleTaskGP(X, Y, likelihood=lik, covar_module=ScaleKernel(base), outcome_transform=otf)
    else:
        model = SingleTaskMultiFidelityGP(
            X, Y, data_fidelities=[d - 2], iteration_fidelity=d - 1,
            linear_truncated=cfg.kernel == "linear_truncated", nu=nu,
            likelihood=lik, outcome_transform=otf)
    if cfg.level:
        model.covar_module = model.covar_module + ScaleKernel(_stationary(cfg, nu, 2, [d - 2, d - 1]))
    if cfg.invariant:
        model.covar_module = model.covar_module + ScaleKernel(_stationary(cfg, nu, d - 2, list(range(d - 2))))
    if cfg.law:
        model.covar_module = model.covar_module + LawKernel(d - 2, log_terms=cfg.law_log,
                                                            shift_init=cfg.law_shift_init)
    if cfg.offset:
        model.covar_module = model.covar_module + FidelityOffsetKernel()
    if cfg.linear_mean:
        model.mean_module = LinearMean(d)
    if prior is not None:
        model.mean_module = prior.mean()
    return model.to(X)


def _stationary(cfg: GPConfig, nu: float | None, n_dims: int,
                active_dims: list[int] | None = None) -> MaternKernel | RBFKernel:
    """An ARD Matern kernel of smoothness ``nu`` (None: RBF) over ``n_dims`` input columns (``active_dims``, None:
    all), with ``cfg.lengthscale_prior``'s prior when it is set."""
    kw: dict = {"ard_num_dims": n_dims, "active_dims": active_dims}
    if cfg.lengthscale_prior:
        prior = LogNormalPrior(loc=SQRT2 + math.log(n_dims) / 2, scale=SQRT3)
        kw |= {"lengthscale_prior": prior,
               "lengthscale_constraint": GreaterThan(MIN_LENGTHSCALE, initial_value=float(prior.mode))}
    return MaternKernel(nu=nu, **kw) if nu else RBFKernel(**kw)


def hypers_of(model) -> dict[str, list]:
    """The model's raw hyperparameters as a JSON-serialisable dict (for warm starts)."""
    return {k: v.detach().cpu().reshape(-1).tolist() for k, v in model.named_parameters()}


def load_hypers(model, state: dict[str, list]) -> bool:
    """Copy ``state`` into ``model``'s parameters; False (nothing changed) when the shapes differ."""
    params = dict(model.named_parameters())
    if set(params) != set(state) or any(params[k].numel() != len(v) for k, v in state.items()):
        return False
    with torch.no_grad():
        for k, v in state.items():
            params[k].copy_(torch.tensor(v, dtype=params[k].dtype).reshape(params[k].shape))
    return True


def fit_subset(X: torch.Tensor, Y: torch.Tensor, m: int, seed: int = 0) -> torch.Tensor:
    """Indices of at most ``m`` rows for the hyperparameter fit: target-fidelity rows, the best rows, random rest.

    Args:
        X: ``n x d`` inputs (the target fidelity has ``s = t = 1``). Y: ``n x 1`` outcomes to maximise.
        seed: seeds the random rest (a pure function of ``(X, Y, m, seed)``).
    """
    n = X.shape[0]
    if n <= m:
        return torch.arange(n)
    at_target = torch.nonzero((X[:, -2:] >= 1 - 1e-9).all(-1)).squeeze(-1)[: m // 2]
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[at_target] = True
    best = torch.argsort(Y.squeeze(-1), descending=True)
    best = best[~chosen[best]][: int(BEST_FRACTION * m)]
    chosen[best] = True
    rest = torch.nonzero(~chosen).squeeze(-1)
    g = torch.Generator().manual_seed(int(seed))
    pick = rest[torch.randperm(len(rest), generator=g)[: m - int(chosen.sum())]]
    chosen[pick] = True
    return torch.nonzero(chosen).squeeze(-1)


def _accept(w: warnings.WarningMessage) -> bool:
    """Accept a fit that ended with a warning (iteration limit, added jitter) unless it is NaN trouble."""
    return "nan" not in str(w.message).lower()


def fit_gp(X: torch.Tensor, Y: torch.Tensor, cfg: GPConfig, warm: dict | None = None, frozen: bool = False,
           on_fallback: Callable[[str], None] | None = None, seed: int = 0, prior=None) -> SingleTaskGP:
    """Build and fit a GP, warm-started from ``warm`` hyperparameters when they fit the model.

    Args:
        X: ``n x (K + 2)`` inputs (double). Y: ``n x 1`` outcomes to maximise.
        warm: hyperparameters from :func:`hypers_of`.
        frozen: load ``warm`` and do not optimise (the MFMS paper freezes them after the initial design).
        on_fallback: called with a short reason for every numerical fallback.
        seed: seeds the fit subsample (callers seed torch's global generator for BoTorch's retries).
        prior: earlier campaigns' tasks (see :func:`build_gp`).

    Returns:
        The fitted model (conditioned on all of ``X``) in eval mode. Never raises for numerical trouble.
    """
    X, Y = X.to(DTYPE), Y.to(DTYPE)

    def fallback(reason: str, level: int = logging.DEBUG) -> None:
        # a retry that recovers is routine numerics: counted (on_fallback -> the policy's diagnostics, in
        # summary.json's policy_info), logged at DEBUG; only the prior (every attempt failed) is a degraded
        # decision, said at WARNING
        log.log(level, "GP: %s%s", reason, " (counted in summary.json's policy_info)" if level > logging.DEBUG else "")
        if on_fallback is not None:
            on_fallback(reason)

    if frozen and warm:
        model = build_gp(X, Y, cfg, prior)
        if load_hypers(model, warm):
            return model.eval()
    idx = fit_subset(X, Y, cfg.fit_max_obs, seed)
    Xs, Ys = X[idx], Y[idx]
    last = ""
    for label, jitter, from_warm in ATTEMPTS:
        try:
            with lo_settings.cholesky_jitter(double_value=jitter), warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizationWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                m, warmed = _fit_from(Xs, Ys, cfg, warm if from_warm else None, prior)
                if warmed and cfg.cold_start:  # the warm start's basin may be a poor one
                    cold, _ = _fit_from(Xs, Ys, cfg, None, prior)
                    value, cold_value = _mll_per_point(m), _mll_per_point(cold)
                    if cold_value > value:
                        log.debug("GP: the fit from defaults beat the warm start (%.4g > %.4g)", cold_value, value)
                        m = cold
            full = m if len(idx) == X.shape[0] else _condition_all(m, X, Y, cfg, prior)
            _check_usable(full, X)
            if label != "first":
                fallback(f"fit needed a fallback ({label})")
            return full
        except NUMERICAL_ERRORS as exc:
            why = str(exc).splitlines()[0][:200] if str(exc) else ""
            last = f"{type(exc).__name__}: {why}" if why else type(exc).__name__
            fallback(f"fit failed with {label} ({type(exc).__name__}): {why}")
    fallback(f"fit failed every fallback: using the prior with a large noise (last error {last})", logging.WARNING)
    m = build_gp(X, Y, cfg, prior)
    if cfg.fixed_noise is None:
        m.likelihood.noise = 1e-2
    return m.eval()


def _fit_from(X: torch.Tensor, Y: torch.Tensor, cfg: GPConfig, warm: dict | None, prior=None):
    """``(model, warmed)``: a GP fitted on ``(X, Y)`` from ``warm`` hyperparameters, or from the defaults when
    ``warm`` is None or does not fit the model (``warmed`` says which)."""
    m = build_gp(X, Y, cfg, prior)
    warmed = bool(warm) and load_hypers(m, warm)
    mll = ExactMarginalLogLikelihood(m.likelihood, m)
    fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": cfg.maxiter}}, max_attempts=2,
                     warning_handler=_accept)
    return m, warmed


def _mll_per_point(model) -> float:
    """The exact marginal log likelihood per training point of a fitted model (left in eval mode)."""
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    with torch.no_grad():
        value = float(mll(model(*model.train_inputs), model.train_targets, *model.train_inputs))
    model.eval()
    return value


def _condition_all(fitted, X: torch.Tensor, Y: torch.Tensor, cfg: GPConfig, prior=None):
    """The exact GP on all ``(X, Y)`` with ``fitted``'s hyperparameters."""
    full = build_gp(X, Y, cfg, prior)
    load_hypers(full, hypers_of(fitted))
    return full.eval()


def _check_usable(model, X: torch.Tensor) -> None:
    """Raise if predictions fail with default jitter (fits may pass only thanks to the fit-time jitter)."""
    model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean = model.posterior(X[:2]).mean
    if not torch.isfinite(mean).all():
        raise FloatingPointError("non-finite posterior mean")
