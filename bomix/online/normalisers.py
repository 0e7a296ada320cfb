"""The one definition of a reweighted step's loss, shared by every host (trainer, synthetic simulator).

A batch holds ``n (K,)`` tokens per domain, drawn from sampling weights ``s (K,)``. With ``m_i`` the
mean token loss of domain ``i``'s tokens in the batch, the loss of the step is ``sum_i c_i m_i`` with
``c = loss_coefficients(n, lw, normaliser, s)``:

- no loss weights (``lw is None``): ``c_i = n_i / N``, the plain token mean;
- ``"domain"`` (DoReMi paper, Alg. 1: ``sum_i alpha_i l_i(theta)``): ``c_i = lw_i`` for present domains,
  0 for absent ones (not renormalised: the loss is the paper's weighted sum of per-domain means);
- ``"token"`` (DoReMi code): every token of domain ``i`` weighs ``u_i = lw_i / s_i`` (the code divides the
  domain weights by the sampling weights, so sampling and reweighting do not count a domain twice) and
  the loss is ``sum_tokens u l / sum_tokens u``, i.e. ``c_i = u_i n_i / sum_j u_j n_j``.

In expectation (``n_i ~ s_i N``) both normalisers weigh domain ``i``'s mean loss by ``lw_i``; batch by
batch they differ (the token normaliser follows the realised counts).

:func:`effective_shares` ``= c / sum(c)`` is the mixture the step effectively trained on: the synthetic
simulator advances its effective tokens by it, and controllers average it as the realised mixture.
"""

from __future__ import annotations

import numpy as np

NORMALISERS = ("domain", "token")


def loss_coefficients(counts: np.ndarray, loss_weights: np.ndarray | None, normaliser: str = "domain",
                      sampling: np.ndarray | None = None) -> np.ndarray:
    """``(K,)`` coefficients ``c`` of the per-domain mean losses in the step's loss (module docstring).

    Args:
        counts: ``(K,)`` tokens (or sequences of equal length) of each domain in the batch.
        loss_weights: ``(K,)`` per-domain loss weights, or None (plain token mean).
        normaliser: ``domain`` (paper) or ``token`` (code).
        sampling: ``(K,)`` sampling weights the batch was drawn from (``token`` only; default uniform).

    Raises:
        ValueError: an unknown normaliser.
    """
    counts = np.asarray(counts, dtype=float)
    present = counts > 0
    if loss_weights is None:
        return counts / max(counts.sum(), 1.0)
    lw = np.asarray(loss_weights, dtype=float)
    if normaliser == "domain":
        return np.where(present, lw, 0.0)
    if normaliser == "token":
        s = np.full(len(lw), 1.0 / len(lw)) if sampling is None else np.asarray(sampling, dtype=float)
        u = np.where(present, lw / np.maximum(s, 1e-12), 0.0) * counts
        total = u.sum()
        return u / total if total > 0 else u
    raise ValueError(f"normaliser must be one of {NORMALISERS}, got {normaliser!r}")


def effective_shares(coef: np.ndarray) -> np.ndarray:
    """``(K,)`` ``c / sum(c)``: the mixture a step with coefficients ``c`` trained on (zeros when every
    loss weight fell on absent domains: that step trains on nothing)."""
    c = np.asarray(coef, dtype=float)
    total = c.sum()
    return c / total if total > 0 else np.zeros_like(c)
