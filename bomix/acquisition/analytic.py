"""Analytic acquisition values on a fitted GP (the GP models ``-loss``: larger is better).

- :func:`log_ei`: log expected improvement of a Gaussian over ``best``.
- :func:`log_target_aei`: the augmented EI of Huang et al. (2006) projected to the target fidelity:
  EI of the *target* posterior at ``w``, times the correlation between the observation at the proposed
  fidelity and the target value, times the fraction of the proposed observation's variance that noise
  does not mask. Divided by cost by the caller, it values a cheap run by how much it teaches about the
  target, not by improvement at its own fidelity (the MFMS rule's weak point).
"""

from __future__ import annotations

import torch
from botorch.acquisition.analytic import _log_ei_helper


def log_ei(mean: torch.Tensor, sigma: torch.Tensor, best: float | torch.Tensor) -> torch.Tensor:
    """``log E[max(Y - best, 0)]`` for ``Y ~ N(mean, sigma^2)``; shapes broadcast, output like ``mean``."""
    sigma = sigma.clamp_min(1e-12)
    u = (mean - best) / sigma
    return sigma.log() + _log_ei_helper(u)


def pointwise(model, X: torch.Tensor, chunk: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and variance of each row of ``X`` (``b x d`` -> ``(b,)``, ``(b,)``), differentiable in ``X``.

    ``chunk == 0``: one q-batch of single points (``b x 1 x d``): GPyTorch then broadcasts the ``n`` training
    inputs over the batch and evaluates every kernel part on ``b x n x d`` copies, which dominates a decision
    once ``n`` is in the thousands. ``chunk > 0``: joint posteriors of at most ``chunk`` rows at a time, whose
    diagonals are the same values (to rounding: ~1e-12 relative) at a fraction of the cost (the ``chunk x chunk``
    covariance is the price).
    """
    if chunk <= 0:
        post = model.posterior(X.unsqueeze(-2))
        return post.mean.squeeze(-1).squeeze(-1), post.variance.squeeze(-1).squeeze(-1)
    means, variances = [], []
    for a in range(0, X.shape[0], chunk):
        post = model.posterior(X[a:a + chunk])
        means.append(post.mean.squeeze(-1))
        variances.append(post.variance.squeeze(-1))
    return torch.cat(means), torch.cat(variances)


def noise_variance(model) -> torch.Tensor:
    """The likelihood's noise variance on the outcome's original scale (scalar tensor)."""
    noise = model.likelihood.noise.detach().mean()
    otf = getattr(model, "outcome_transform", None)
    if otf is not None and hasattr(otf, "stdvs"):
        noise = noise * otf.stdvs.detach().squeeze() ** 2
    return noise


def log_target_aei(model, X_fid: torch.Tensor, X_target: torch.Tensor, best: float,
                   noise_var: torch.Tensor | None = None) -> torch.Tensor:
    """Log augmented EI projected to the target fidelity.

    Args:
        model: fitted single-output GP over ``[w, s, t]``.
        X_fid: ``b x d`` proposed points (mixture at the proposed fidelity).
        X_target: ``b x d`` the same mixtures at the target fidelity.
        best: incumbent (best posterior mean at the target among observed mixtures).
        noise_var: observation noise variance (original scale); default from the model.

    Returns:
        ``(b,)`` log values (``-inf``-free: a floor of -1e3 replaces non-positive correlations).
    """
    if noise_var is None:
        noise_var = noise_variance(model)
    X = torch.stack([X_fid, X_target], dim=-2)  # b x 2 x d
    post = model.posterior(X)
    mean = post.mean.squeeze(-1)  # b x 2
    cov = post.mvn.covariance_matrix  # b x 2 x 2
    var_f = cov[..., 0, 0].clamp_min(1e-12)
    var_t = cov[..., 1, 1].clamp_min(1e-12)
    rho = cov[..., 0, 1] / (var_f * var_t).sqrt()
    frac = 1.0 - noise_var.sqrt() / (var_f + noise_var).sqrt()
    val = log_ei(mean[..., 1], var_t.sqrt(), best) + rho.clamp_min(1e-12).log() + frac.clamp_min(1e-12).log()
    return torch.where(rho > 0, val, torch.full_like(val, -1e3))


def log_cost_ei(model, X: torch.Tensor, best: float, log_cost: torch.Tensor, exponent: float) -> torch.Tensor:
    """The MFMS paper's rule: ``log EI(X) - exponent * log cost`` (EI at the proposed fidelity itself)."""
    post = model.posterior(X.unsqueeze(-2))
    mean = post.mean.squeeze(-1).squeeze(-1)
    sigma = post.variance.squeeze(-1).squeeze(-1).clamp_min(1e-12).sqrt()
    return log_ei(mean, sigma, best) - exponent * log_cost



def contrast(model, X: torch.Tensor, x_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and sd of ``f(x) - f(x_ref)`` for each row of ``X``.

    A component of the posterior shared by every point (the unknown level of a fidelity nobody ran yet)
    cancels, so decisions on contrasts rank mixtures by what the data say about their differences.

    Args:
        X: ``b x d`` points. x_ref: ``d`` (or ``1 x d``) reference point.

    Returns:
        ``(mean, sd)``, each ``(b,)``; the sd is floored at 1e-9 (it is 0 at ``x_ref`` itself).
    """
    ref = x_ref.reshape(1, 1, -1).expand(X.shape[0], 1, X.shape[-1])
    post = model.posterior(torch.cat([X.unsqueeze(-2), ref], dim=-2))  # b x 2 points
    mean = post.mean.squeeze(-1)
    cov = post.mvn.covariance_matrix
    var = (cov[..., 0, 0] + cov[..., 1, 1] - 2 * cov[..., 0, 1]).clamp_min(1e-18)
    return mean[..., 0] - mean[..., 1], var.sqrt().clamp_min(1e-9)
