"""The GP of a campaign: fitted on the history with warm starts carried by the specs, and fantasies.

A decision stores its fitted hyperparameters with every spec it proposes (:func:`spec_meta`:
``spec.meta["gp"]``); the next decision starts its fit from the latest of them (:func:`warm_start`), and with
``GPConfig.cold_start`` also from the defaults, keeping the higher marginal likelihood
(:func:`bomix.surrogate.gp.fit_gp`). Both are functions of the history, so a resumed campaign refits exactly.
Runs that are pending or already chosen in a batch are fantasised at their posterior mean (:func:`fantasize`,
the kriging believer). Callers seed torch's global generator around the fit (``seeded_torch``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from bomix.history import History
from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of
from bomix.surrogate.numerics import NUMERICAL_ERRORS

log = logging.getLogger("bomix.surrogate")


def warm_start(history: History) -> dict | None:
    """The hyperparameters stored with the latest spec that carries some (pure function of history)."""
    for spec in reversed(history.all_specs()):
        if spec.meta and "gp" in spec.meta:
            return spec.meta["gp"]
    return None


def fit_history(X: torch.Tensor, Y: torch.Tensor, history: History, cfg: GPConfig, frozen: bool = False,
                on_fallback: Callable[[str], None] | None = None, prior=None):
    """The GP on ``(X, Y)`` (the history's observations), warm-started from the history's latest fit.

    Args:
        frozen: load the warm start's hyperparameters without refitting (a fit from scratch when there is
            none yet): the MFMS paper freezes them after the initial design.
        on_fallback: called with a short reason for every numerical fallback.
        prior: earlier campaigns' tasks (:class:`bomix.surrogate.transfer.TransferPrior`; None: the plain GP).
    """
    return fit_gp(X, Y, cfg, warm=warm_start(history), frozen=frozen, on_fallback=on_fallback,
                  seed=len(history.results), prior=prior)


def spec_meta(model) -> dict:
    """What a proposed spec stores: the fitted hypers (the next decision's warm start)."""
    return {"gp": hypers_of(model)}


def fantasize(model, X: torch.Tensor | None, cfg: GPConfig, on_fallback: Callable[[str], None] | None = None):
    """``model`` conditioned on observations at ``X`` (``m x d``) equal to its posterior mean there.

    Fantasies are a nicety: on a numerical failure the model is returned unchanged (and the fallback
    reported), so the decision goes on without them.
    """
    if X is None or not len(X):
        return model
    with torch.no_grad():
        Yf = model.posterior(X).mean
    kw = {}
    if cfg.fixed_noise is not None:
        kw["noise"] = torch.full_like(Yf, cfg.fixed_noise)
    try:
        return model.condition_on_observations(X, Yf, **kw)
    except NUMERICAL_ERRORS as exc:
        log.debug("could not condition on pending runs: %s", exc)
        if on_fallback is not None:
            on_fallback("fantasy failed")
        return model
