"""Outcome constraints in a GP policy: one GP per constrained metric, the probability of feasibility at the
target, and the constrained acquisition and recommendation scores built on it.

Each constraint (:class:`bomix.constraints.OutcomeConstraint`) is modelled like the objective: the same
observation encoder (every subsampled checkpoint, GP inputs ``[w, s, t]``) on the constraint's metric oriented
so that lower is more feasible (``Y = -value``, feasible iff ``Y >= -threshold``), fitted by the same path
(:func:`bomix.surrogate.gp.fit_gp` with the policy's ``GPConfig``) and warm-started from the hyperparameters the
previous decision stored with its specs (``spec.meta["gp_constraints"]``). The GPs are independent, so

    log PoF(x) = sum_c log Phi((mu_c(x) + threshold_c) / sd_c(x))

and the constrained acquisition is ``log EI + log PoF`` (Gardner et al. 2014; BoTorch's constrained EI), with the
incumbent the best posterior mean among observed mixtures that are more likely feasible than not; while none is,
the acquisition is ``log PoF`` alone (find a feasible region first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bomix.constraints import OutcomeConstraint
from bomix.history import History
from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of
from bomix.surrogate.observations import ObservationEncoder

#: Default probability of feasibility a recommendation must reach (``constraint_prob``).
CONSTRAINT_PROB = 0.9
#: An observed mixture is a feasible incumbent when its probability of feasibility is at least this.
INCUMBENT_PROB = 0.5
#: Recommendation score: posterior LCB minus this penalty per unit of ``log(constraint_prob) - log PoF`` below
#: the required probability (in the objective's units: it dominates any objective difference).
INFEASIBLE_PENALTY = 1e3
#: The key of a spec's ``meta`` holding each constraint GP's hyperparameters (by the constraint's label).
META_KEY = "gp_constraints"


@dataclass
class ConstraintModels:
    """One fitted GP per constraint (``Y = -value`` of :meth:`OutcomeConstraint.as_objective`).

    Attributes:
        constraints: the constraints, in order.
        models: their GPs.
    """

    constraints: tuple[OutcomeConstraint, ...]
    models: list

    def log_pof(self, X: torch.Tensor) -> torch.Tensor:
        """``b x d`` GP inputs -> ``(b,)`` log probability that every bound holds (differentiable)."""
        out = torch.zeros(X.shape[:-1], dtype=X.dtype)
        for c, model in zip(self.constraints, self.models):
            post = model.posterior(X)
            mean = post.mean.squeeze(-1)
            sd = post.variance.squeeze(-1).clamp_min(1e-18).sqrt()
            out = out + torch.special.log_ndtr((mean + c.threshold) / sd)
        return out

    def hypers(self) -> dict:
        """What a decision stores with its specs: ``{META_KEY: {label: hypers}}`` (the next fit's warm start)."""
        return {META_KEY: {c.label: hypers_of(m) for c, m in zip(self.constraints, self.models)}}


def warm_starts(history: History) -> dict[str, dict]:
    """Constraint label -> the hyperparameters stored with the latest spec that carries some ({} if none)."""
    for spec in reversed(history.all_specs()):
        if spec.meta and META_KEY in spec.meta:
            return dict(spec.meta[META_KEY])
    return {}


def fit_constraint_models(history: History, encoder: ObservationEncoder, constraints: Sequence[OutcomeConstraint],
                          cfg: GPConfig, frozen: bool = False,
                          on_fallback: Callable[[str], None] | None = None) -> ConstraintModels | None:
    """The constraint GPs on the history (None while a constraint has fewer than 2 observations).

    Args:
        frozen: load the latest decision's hyperparameters without refitting (recommendations; a fit when a
            constraint has none stored yet).
    """
    warm = warm_starts(history)
    models = []
    for c in constraints:
        view = History(history.space, c.as_objective(), history.results, history.pending, history.budget,
                       history.spent)
        obs = encoder.observations(view)
        if len(obs) < 2:
            return None
        X, Y = encoder.tensors(obs)
        models.append(fit_gp(X, Y, cfg, warm=warm.get(c.label), frozen=frozen and c.label in warm,
                             on_fallback=on_fallback, seed=len(history.results)))
    return ConstraintModels(tuple(constraints), models)


def feasible_incumbent(model, cm: ConstraintModels, X: torch.Tensor) -> tuple[torch.Tensor | None, float | None]:
    """``(x, mean)`` of the candidate with the best posterior mean among ``X`` (``m x d`` target inputs of observed
    mixtures) whose probability of feasibility is at least :data:`INCUMBENT_PROB`; ``(None, None)`` if none is."""
    with torch.no_grad():
        mean = model.posterior(X).mean.squeeze(-1)
        ok = cm.log_pof(X) >= float(np.log(INCUMBENT_PROB))
    if not bool(ok.any()):
        return None, None
    mean = torch.where(ok, mean, torch.full_like(mean, -torch.inf))
    i = int(torch.argmax(mean))
    return X[i], float(mean[i])


def constrained_acq(acq: Callable | None, cm: ConstraintModels, at_target: Callable[[torch.Tensor], torch.Tensor],
                    W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
    """``acq(W, g) + log PoF`` at the target (``acq`` None: ``log PoF`` alone, while nothing is feasible)."""
    lp = cm.log_pof(at_target(W))
    return lp if acq is None else acq(W, g) + lp


def feasible_score(score: Callable, cm: ConstraintModels, at_target: Callable[[torch.Tensor], torch.Tensor],
                   prob: float, W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
    """Recommendation score under constraints: ``score(W, g)`` minus :data:`INFEASIBLE_PENALTY` per unit of
    ``log(prob) - log PoF`` where the probability of feasibility is below ``prob``."""
    short = (float(np.log(prob)) - cm.log_pof(at_target(W))).clamp_min(0.0)
    return score(W, g) - INFEASIBLE_PENALTY * short
