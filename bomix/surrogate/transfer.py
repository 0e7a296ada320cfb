"""Earlier campaigns' runs as other tasks of the GP: an autoregressive (Kennedy-O'Hagan) transfer prior.

Each reused task ``g`` (runs mapped exactly, or renormalised after a removed domain) gets its own GP fitted once on
its observations (same inputs ``X = [w, s, t]`` in the new domain order, same :class:`GPConfig`); the new
campaign's GP then has the mean function

    m(x) = c + sum_g rho_g r_g(x) z_g(x),     z_g = (mu_g(x) - mean(Y_g)) / sd(Y_g),
    r_g(x) = 1 - var_g(x) / prior_var_g(x)  in [0, 1]

(``mu_g``, ``var_g`` the old GP's posterior mean and variance, standardised by its own data) with the constant
``c`` and one coefficient ``rho_g >= 0`` per task fitted with the kernel's hyperparameters by marginal likelihood on
the NEW observations only. That is the AR(1) co-kriging model ``f_new = rho f_old + delta`` (Kennedy & O'Hagan
2000, fitted recursively as in Le Gratiet 2013): ``rho`` is the learned correlation between the tasks, so evidence
that does not predict the new runs gets ``rho -> 0`` and cannot dominate, and ``c`` absorbs a stale level shift. The
kernel models the new task's discrepancy ``delta``. ``r_g`` is how much the old runs know at ``x`` (1 on them, 0
where the old GP is back at its prior): the old task speaks where it has evidence, and fades where it extrapolates
(a new domain's vertex, a region no old run visited); ``z_g`` may be clipped to the old observations' range widened
by ``CLAMP_MARGIN`` sd (off by default: see its comment) - full AR(1) would say so through the variance
``rho^2 var_g(x)``, which this mean-only version replaces by the shrinkage. A GP policy also fits the plain GP and
keeps the one the new runs' marginal likelihood prefers (:func:`prefer`). With no reused runs none of this is
built: the GP is the plain one, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from gpytorch.constraints import Positive
from gpytorch.means import Mean

from bomix.history import Observations
from bomix.surrogate.gp import GPConfig, fit_gp
from bomix.surrogate.observations import dedupe

log = logging.getLogger("bomix.surrogate")
DTYPE = torch.double
#: the starting coefficient of every task
RHO_INIT = 0.5
#: an old task's standardised prediction is clipped to its observations' range widened by this many sd each side
#: (inf: not clipped, the default: clipping at 1 sd stopped the old task from pointing beyond its best run and
#: halved the benefit on benchmarks/warm_start.py's split/add problem, 5/10 seeds reaching eps instead of 7/10)
CLAMP_MARGIN = float("inf")


class TransferMean(Mean):
    """``c + sum_g rho_g f_g(x)`` over ``... x n x d`` inputs -> ``... x n`` (``rho >= 0``).

    The old GPs are held in a plain list (not submodules): their hyperparameters are fixed and are neither fitted
    nor stored with the new GP's (``hypers_of`` sees ``constant`` and ``raw_rho`` only).
    """

    def __init__(self, features: Sequence[Callable[[torch.Tensor], torch.Tensor]]):
        super().__init__()
        self._features = list(features)
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(1, dtype=DTYPE)))
        self.register_parameter("raw_rho", torch.nn.Parameter(torch.zeros(len(self._features), dtype=DTYPE)))
        self.register_constraint("raw_rho", Positive())
        self.rho = torch.full((len(self._features),), RHO_INIT, dtype=DTYPE)

    @property
    def rho(self) -> torch.Tensor:
        return self.raw_rho_constraint.transform(self.raw_rho)

    @rho.setter
    def rho(self, value: torch.Tensor) -> None:
        with torch.no_grad():
            self.raw_rho.copy_(self.raw_rho_constraint.inverse_transform(torch.as_tensor(value).to(self.raw_rho)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.constant.to(x).expand(x.shape[:-1])
        for g, f in enumerate(self._features):
            out = out + self.rho[g].to(x) * f(x)
        return out

    def __deepcopy__(self, memo):  # fantasies deep-copy the model: share the fixed old GPs, copy the parameters
        new = TransferMean(self._features)
        with torch.no_grad():
            new.constant.copy_(self.constant)
            new.raw_rho.copy_(self.raw_rho)
        new.train(self.training)
        return new


@dataclass
class TransferPrior:
    """The fitted old-task GPs of one campaign; :meth:`mean` builds a fresh :class:`TransferMean` over them.

    Attributes:
        tasks: the task ids in feature order.
        n_obs: observations each old GP was fitted on.
    """

    tasks: tuple[int, ...]
    n_obs: tuple[int, ...]
    features: tuple[Callable[[torch.Tensor], torch.Tensor], ...]

    def mean(self) -> TransferMean:
        return TransferMean(self.features)


def uses_transfer(hypers: dict) -> bool:
    """Whether stored hyperparameters (``spec.meta["gp"]``) are those of a GP with earlier campaigns' tasks."""
    return any(k.startswith("mean_module.raw_rho") for k in hypers)


def prefer(with_tasks, plain, n_extra: int) -> tuple[object, bool]:
    """``(model, used)``: the GP with the old tasks when its exact marginal log likelihood on the new observations
    beats the plain GP's by more than ``n_extra`` nats (one per coefficient ``rho``: Akaike's penalty), else the
    plain one. Old evidence thus has to predict the new runs to be used at all ("reuse must not hurt")."""
    from bomix.surrogate.gp import _mll_per_point

    n = int(plain.train_targets.shape[-1])
    gain = (_mll_per_point(with_tasks) - _mll_per_point(plain)) * n
    used = bool(np.isfinite(gain) and gain > n_extra)
    log.debug("transfer prior %s (log marginal likelihood gain %.3g over %d observations)",
              "used" if used else "declined", gain, n)
    return (with_tasks if used else plain), used


def subsample(obs: Observations, max_per_run: int, min_step: float, max_obs: int) -> np.ndarray:
    """Row mask of ``obs``: at most ``max_per_run`` log-spaced checkpoints per run (its last kept), steps >=
    ``min_step``, then at most ``max_obs`` rows (each run's last checkpoints first)."""
    keep = np.zeros(len(obs), dtype=bool)
    for rid in dict.fromkeys(obs.run_ids):
        idx = np.nonzero((obs.run_ids == rid) & (obs.steps >= min_step))[0]
        if idx.size > max_per_run:
            idx = idx[np.unique(np.round(np.geomspace(1, idx.size, max_per_run)).astype(int) - 1)] \
                if max_per_run > 1 else idx[-1:]
        keep[idx] = True
    if keep.sum() > max_obs:
        order = np.nonzero(keep)[0]
        keep[:] = False
        keep[order[np.argsort(~obs.final[order], kind="stable")[:max_obs]]] = True
    return keep


def fit_transfer(X: torch.Tensor, Y: torch.Tensor, task: np.ndarray, cfg: GPConfig, seed: int = 0,
                 on_fallback: Callable[[str], None] | None = None) -> TransferPrior | None:
    """One GP per task on the reused data (callers seed torch's generator); None when no task has 2 observations.

    Args:
        X: ``n x (K + 2)`` reused inputs in the new space. Y: ``n x 1`` outcomes to maximise (``-loss``).
        task: ``(n,)`` task id per row.
    """
    tasks, n_obs, feats = [], [], []
    for g in sorted(set(int(t) for t in task)):
        m = torch.as_tensor(task == g)
        if int(m.sum()) < 2:
            continue
        model = fit_gp(X[m], Y[m], cfg, seed=seed + g, on_fallback=on_fallback)
        for p in model.parameters():
            p.requires_grad_(False)
        feats.append(_feature(model))
        tasks.append(g)
        n_obs.append(int(m.sum()))
    if not feats:
        return None
    log.debug("transfer prior: tasks %s on %s observations", tasks, n_obs)
    return TransferPrior(tuple(tasks), tuple(n_obs), tuple(feats))


def _feature(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> r(x) z(x)`` of a fitted old GP (see the module docstring), in its internal (standardised) units."""
    y = model.train_targets
    mu, sd = float(y.mean()), max(float(y.std()), 1e-9)
    lo, hi = float(y.min() - mu) / sd - CLAMP_MARGIN, float(y.max() - mu) / sd + CLAMP_MARGIN

    def f(x: torch.Tensor) -> torch.Tensor:
        post = model(x)  # the latent posterior in the model's own (standardised) units
        prior = model.covar_module(x, diag=True)
        r = (1.0 - post.variance / prior.clamp_min(1e-12)).clamp(0.0, 1.0)
        return r * ((post.mean - mu) / sd).clamp(lo, hi)

    return f


def reused_observations(reused, space, checkpoints: bool, max_per_run: int, min_step_frac: float,
                        max_obs: int) -> tuple[Observations, np.ndarray]:
    """The reused observations a GP policy fits its old tasks on: subsampled like its own (checkpoints, or finals
    at the target when single-fidelity), deduplicated per task; ``(obs, task (n,))``."""
    obs, task = reused.obs, reused.task
    if not checkpoints:
        t = space.target
        mask = (obs.scales == t.scale) & (obs.steps == t.steps)
    else:
        mask = subsample(obs, max_per_run, min_step_frac * min(space.step_grid), max_obs)
    obs, task = obs.select(mask), task[mask]
    parts = [(dedupe(obs.select(task == g)), g) for g in sorted(set(task.tolist()))]
    if not parts:
        return obs, task
    out = Observations(*(np.concatenate([getattr(o, k) for o, _ in parts]) for k in
                         ("w", "scales", "steps", "y", "run_ids", "final")))
    return out, np.concatenate([np.full(len(o), g, dtype=np.int64) for o, g in parts])
