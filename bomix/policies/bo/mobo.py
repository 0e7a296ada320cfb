"""``mobo``: multi-objective multi-fidelity BO over a problem's 2-4 objectives (a trade-off, :mod:`bomix.tradeoff`).

Model: one GP per objective over the same ``[w, s, t]`` inputs (every subsampled checkpoint, ``Y = -value``), built
and fitted like ``mfbo``'s (preset :data:`bomix.policies.bo.mfbo.MFBO_GP`), each warm-started from the
hyperparameters the previous decision stored with its specs (``spec.meta["gp_objectives"]``, as the constraint GPs
of :mod:`bomix.policies.bo.constraints` are).

Decision: the mixture ``w*`` maximises BoTorch's ``qLogNoisyExpectedHypervolumeImprovement`` (Daulton et al. 2021,
in its log form, Ament et al. 2023) at the target fidelity, over the observed mixtures as the noisy baseline, with
pending runs and the batch's earlier choices as ``X_pending`` (so a batch spreads along the front). The reference
point is the worst posterior mean of the baseline in each objective, moved back by ``ref_margin`` of the
baseline's range. The fidelity is chosen as ``mfbo`` chooses it (cost-aware): for every allowed, affordable
fidelity ``f`` not yet measured near ``w*`` (a continuation of a shorter run of ``w*`` costs its extra steps), the
fraction of each objective's target variance at ``w*`` that observing ``(w*, f)`` removes,
``cov_m(f, T)^2 / ((var_m,f + noise_m) var_m,T)``, averaged over the objectives and divided by the cost. When
``w*`` has nothing left to run, its ball is excluded (as in ``mfbo``) and the next-best mixture is tried; after
``MAX_BLOCKED`` of them the mixture of a few random draws with the largest summed target variance is run.

Pareto set and recommendation (:meth:`MOBOPolicy.pareto`): candidates are the observed mixtures, the vertices, the
edge midpoints and ``n_candidates`` random mixtures at the target; each objective is scored by
``mean + front_kappa * sd`` (the objectives are minimised; ``front_kappa = 0``: the posterior mean), and the
non-dominated candidates by that score (at most ``max_front``, evenly spread along the first objective) are the set,
reported with mean +- sd per objective; with ``rec_evidence`` only candidates within that evidence radius of an
observed mixture (:mod:`bomix.policies.bo.evidence`). (A conservative ``front_kappa = 1`` collapsed the set to the few mixtures run
at the target, whose sd is smallest there: with one target run, one mixture "dominated" every other.) The
recommendation is the member the problem's ``preference`` picks (:func:`bomix.tradeoff.preferred`: weighted Chebyshev
distance to the ideal point). The policy predicts objectives, not the problem's scalar
``objective``: :meth:`predict` returns None.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.models import ModelListGP
from botorch.sampling import SobolQMCNormalSampler
from linear_operator.utils.warnings import NumericalWarning

from bomix.acquisition.analytic import noise_variance
from bomix.acquisition.fixed import FixedFidelities
from bomix.acquisition.optimize import OptimizerConfig, maximize
from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.history import History, Observations
from bomix.pareto import non_dominated
from bomix.policies.bo import evidence
from bomix.policies.bo.base import GPPolicy
from bomix.policies.bo.continuation import continue_spec, fidelity_options
from bomix.policies.bo.mfbo import BLOCK_RADIUS, CHEAPEST_RATIO, MAX_BLOCKED, MFBO_GP, MFBO_SEARCH, _penalised
from bomix.policies.bo.recommend import DT, SALT_REC
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture
from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of
from bomix.surrogate.numerics import NUMERICAL_ERRORS, seeded_torch

log = logging.getLogger("bomix.policies.bo")

#: The key of a spec's ``meta`` holding each objective GP's hyperparameters (by objective name).
META_KEY = "gp_objectives"
#: Salt of the objective GPs' torch stream.
SALT_OBJECTIVES = 17


@dataclass
class ObjectiveModels:
    """One fitted GP per objective (``Y = -value``: each maximises) and the observations of the first.

    Attributes:
        names: the objectives' names, in the problem's order.
        models: their GPs.
        obs: the first objective's observations (every objective is observed at the same runs).
    """

    names: tuple[str, ...]
    models: list
    obs: Observations

    def model_list(self) -> ModelListGP:
        return ModelListGP(*self.models)

    def hypers(self) -> dict:
        """What a decision stores with its specs: ``{META_KEY: {name: hypers}}`` (the next fit's warm start)."""
        return {META_KEY: {n: hypers_of(m) for n, m in zip(self.names, self.models)}}

    def mean_sd(self, X: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``b x d`` GP inputs -> ``(b, M)`` posterior means and sds of the objectives' values (lower is better)."""
        means, sds = [], []
        with torch.no_grad():
            for m in self.models:
                post = m.posterior(X)
                means.append(-post.mean.squeeze(-1).numpy())
                sds.append(post.variance.squeeze(-1).clamp_min(0).sqrt().numpy())
        return np.column_stack(means), np.column_stack(sds)


def warm_starts(history: History) -> dict[str, dict]:
    """Objective name -> the hyperparameters stored with the latest spec that carries some ({} if none)."""
    for spec in reversed(history.all_specs()):
        if spec.meta and META_KEY in spec.meta:
            return dict(spec.meta[META_KEY])
    return {}


class MOBOPolicy(GPPolicy):
    """Multi-objective BO: qLogNEHVI at the target picks the mixture, information per unit cost the fidelity; the
    result is a Pareto set and the preference's pick from it (see the module docstring).

    Args:
        gp: each objective GP (preset ``mfbo``'s :data:`~bomix.policies.bo.mfbo.MFBO_GP`).
        search: acquisition search sizes (preset ``mfbo``'s).
        mc_samples: quasi-MC samples of qLogNEHVI.
        ref_margin: the hypervolume reference point lies this fraction of the baseline's range beyond its worst
            posterior mean in each objective.
        n_candidates: random target mixtures scored for the Pareto set (besides observed mixtures, vertices, edges).
        max_front: at most this many mixtures in the reported Pareto set.
        front_kappa: the set is non-dominated in ``mean + front_kappa * sd`` of each objective (0: the means).
        continuation: also consider continuing earlier runs (only the extra steps cost).
        min_distance: a fidelity counts as measured at ``w`` when a run within this L1 distance reached it.
        (others: see :class:`GPPolicy`)
    """

    name = "mobo"
    tag = "mobo"
    space_filling_init = True

    def __init__(self, gp: GPConfig = MFBO_GP, search: OptimizerConfig = MFBO_SEARCH, mc_samples: int = 64,
                 ref_margin: float = 0.1, n_candidates: int = 512, max_front: int = 16, front_kappa: float = 0.0,
                 continuation: bool = True, min_distance: float = 0.05, n_init: int | None = None, **kw):
        super().__init__(gp=gp, search=search, n_init=n_init, **kw)
        hedges = self.hedges()
        if hedges:  # its recommendation is a Pareto set's member, not one argmax to hedge
            raise BomixError(f"mobo: {', '.join(hedges)} applies to a single-objective recommendation; "
                             "leave it unset (null)")
        if int(mc_samples) < 1 or int(n_candidates) < 1 or int(max_front) < 1:
            raise BomixError(f"mobo: mc_samples, n_candidates and max_front must be >= 1 (got {mc_samples}, "
                             f"{n_candidates}, {max_front})")
        if not float(ref_margin) >= 0:
            raise BomixError(f"mobo: ref_margin must be >= 0 (a fraction of the baseline's range), got {ref_margin}")
        if not 0.0 <= float(min_distance) < 2.0:
            raise BomixError(f"mobo: min_distance must be in [0, 2) (an L1 distance on the simplex), got "
                             f"{min_distance}")
        if not float(front_kappa) >= 0:
            raise BomixError(f"mobo: front_kappa must be >= 0, got {front_kappa}")
        self.mc_samples, self.ref_margin, self.front_kappa = int(mc_samples), float(ref_margin), float(front_kappa)
        self.n_candidates, self.max_front = int(n_candidates), int(max_front)
        self.continuation, self.min_distance = bool(continuation), float(min_distance)
        self._ocache: dict = {}
        self._pcache: dict = {}

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        if len(problem.objectives) < 2:
            raise BomixError("mobo needs a trade-off: declare problem.objectives (2-4 named objectives, e.g. "
                             "problem=synthetic_moo)")
        if problem.proposals.is_pool:
            raise BomixError("mobo does not search pool simulators (a fixed list of mixtures): use a continuous "
                             "backend")
        self._ocache, self._pcache = {}, {}

    # ----- the objective GPs -----------------------------------------------------------------
    def objective_models(self, history: History, refit: bool = True) -> ObjectiveModels | None:
        """The objective GPs (None before 2 observations), cached per history state; ``refit=False`` loads the
        latest decision's hyperparameters (recommendations), as :meth:`GPPolicy.model` does."""
        warm = warm_starts(history)
        frozen = self.freeze_hypers or (not refit and bool(warm))
        key = (tuple(r.spec.run_id for r in history.results), len(history.pending), frozen)
        if self._ocache.get("key") == key:
            return self._ocache["models"]
        models, first = [], None
        with seeded_torch(self.seed, len(history.results), len(history.pending), SALT_OBJECTIVES):
            for obj in self.problem.objectives:
                view = History(history.space, obj, history.results, history.pending, history.budget, history.spent)
                obs = self.encoder.observations(view)
                if len(obs) < 2:
                    self._ocache = {"key": key, "models": None}
                    return None
                first = obs if first is None else first
                X, Y = self.encoder.tensors(obs)
                models.append(fit_gp(X, Y, self.gp_cfg, warm=warm.get(obj.name), frozen=frozen and obj.name in warm,
                                     on_fallback=self._fallback, seed=len(history.results)))
        out = ObjectiveModels(tuple(o.name for o in self.problem.objectives), models, first)
        self._ocache = {"key": key, "models": out}
        return out

    # ----- decisions -------------------------------------------------------------------------
    def init_fidelities(self) -> list[Fidelity]:
        cheapest = min(self.problem.cost.of(f) for f in self.grid())
        return [f for f in self.grid() if self.problem.cost.of(f) <= CHEAPEST_RATIO * cheapest]

    def _ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        specs = history.all_specs()
        n_init_left = self.n_initial(history) - sum(1 for s in specs if s.tag == "init")
        if n_init_left > 0 and not any(s.tag not in ("init", "fallback") for s in specs):
            return self.initial(history, budget_left, min(n, n_init_left))
        om = self.objective_models(history)
        if om is None:
            return [] if history.pending else self.initial(history, budget_left, n)
        rng = self.rng(history)
        chosen: list[RunSpec] = []
        left = budget_left
        for _ in range(n):
            spec = self._one(om, None, history, om.obs, rng, left, list(history.pending) + chosen)
            if spec is None:
                break
            chosen.append(spec.with_(meta=om.hypers()))
            left -= self.problem.cost(spec.scale, spec.steps, spec.start_step)
        return chosen

    def _acquisition(self, om: ObjectiveModels, pending: list[RunSpec]):
        """``acq(W, g)``: qLogNEHVI of target mixtures ``W (b x K)`` -> ``(b,)`` (pending runs at the target)."""
        baseline = self.at_target(torch.tensor(np.unique(om.obs.w, axis=0), dtype=DT))
        mean, _ = om.mean_sd(baseline)
        lo, hi = (-mean).min(0), (-mean).max(0)  # the GPs' outcome space (maximised)
        ref = torch.tensor(lo - self.ref_margin * np.maximum(hi - lo, 1e-9), dtype=DT)
        X_pending = (self.at_target(torch.tensor(np.array([s.mixture.weights for s in pending]), dtype=DT))
                     if pending else None)
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=om.model_list(), ref_point=ref, X_baseline=baseline, X_pending=X_pending,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples])), prune_baseline=True,
            cache_root=False)

        def acq(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            return acqf(self.at_target(W).unsqueeze(-2))

        return acq

    def _one(self, om: ObjectiveModels, base, history: History, obs: Observations, rng: np.random.Generator,
             budget_left: float, pending: list[RunSpec]) -> RunSpec | None:
        with warnings.catch_warnings():  # qLogNEHVI's joint posterior samples add jitter routinely: not news
            warnings.simplefilter("ignore", NumericalWarning)
            return self._propose(om, history, obs, rng, budget_left, pending)

    def _propose(self, om: ObjectiveModels, history: History, obs: Observations, rng: np.random.Generator,
                 budget_left: float, pending: list[RunSpec]) -> RunSpec | None:
        """:meth:`_one`: the qLogNEHVI mixture (or the next-best, or an exploration point) and its fidelity."""
        t = self.space.target
        acq = self._acquisition(om, pending)
        extra = np.unique(obs.w, axis=0)
        blocked: list[np.ndarray] = []
        for _ in range(MAX_BLOCKED + 1):
            pen = acq if not blocked else partial(_penalised, acq, torch.tensor(np.array(blocked), dtype=DT),
                                                  BLOCK_RADIUS)
            w, _, _ = maximize(pen, self.space, [t], rng, self.opt_cfg, extra=extra)
            spec = self._by_information(om, w, history, budget_left, pending)
            if spec is not None:
                return spec
            blocked.append(w)
        log.info("mobo: the %d best hypervolume-improvement mixtures have nothing left to run: exploring", len(blocked))
        W = self.space.sample(64, rng, 1.0, t)
        _, sd = om.mean_sd(self.at_target(torch.tensor(W, dtype=DT)))
        for i in np.argsort(-(sd ** 2).sum(1)):
            spec = self._by_information(om, W[i], history, budget_left, pending)
            if spec is not None:
                return spec
        return None

    def _by_information(self, om: ObjectiveModels, w: np.ndarray, history: History, budget_left: float,
                        pending: list[RunSpec]) -> RunSpec | None:
        """The run at ``w`` with the largest mean fraction of the objectives' target variance removed per unit cost
        (None when no fidelity is left to run or affordable there)."""
        opts = [o for o in fidelity_options(self.problem, self.grid(), w, history, pending, self.min_distance,
                                            self.continuation) if 0 < o[1] <= budget_left + BUDGET_EPS]
        if not opts:
            return None
        m = len(opts)
        X = FixedFidelities(self.space, [o[0] for o in opts] + [self.space.target]).each(
            torch.tensor(w[None], dtype=DT))  # (m + 1) x d: w at each option's fidelity, then the target
        frac = torch.zeros(m, dtype=DT)
        with torch.no_grad():
            for model in om.models:
                cov = model.posterior(X).mvn.covariance_matrix
                var = cov.diagonal().clamp_min(1e-18)
                frac = frac + (cov[:m, m] ** 2 / ((var[:m] + noise_variance(model)) * var[m])).clamp(1e-12, 1.0)
        score = (frac / len(om.models)).log() - torch.log(torch.tensor([o[1] for o in opts], dtype=DT))
        f, _, prev = opts[int(torch.argmax(score))]
        if prev is not None:
            return continue_spec(prev, f.steps, tag="mobo-continue")
        return RunSpec(Mixture(w, self.space.domains), f.scale, f.steps, tag=self.tag)

    # ----- Pareto set and recommendation -----------------------------------------------------
    def pareto(self, history: History) -> list[dict] | None:
        """The predicted Pareto set at the target (see the module docstring); None before the models exist."""
        history = self._settled(history)
        key = tuple(r.spec.run_id for r in history.results)
        if self._pcache.get("key") == key:
            return self._pcache["set"]
        with seeded_torch(self.seed, len(history.results), SALT_REC):
            try:
                front = self._front(history)
            except NUMERICAL_ERRORS:
                self._fallback("pareto set failed")
                front = None
        out = None
        if front is not None:
            W, mean, sd, _ = front
            names = [o.name for o in self.problem.objectives]
            out = [{"mixture": dict(zip(self.space.domains, map(float, W[i]))),
                    "predicted": {n: {"mean": float(mean[i, j]), "sd": float(sd[i, j])} for j, n in enumerate(names)}}
                   for i in range(len(W))]
        self._pcache = {"key": key, "set": out, "front": front}
        return out

    def _front(self, history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(W, mean, sd, score)`` of the Pareto set (rows ordered by the first objective's score)."""
        om = self.objective_models(history, refit=False)
        if om is None:
            return None
        t = self.space.target
        k = self.space.k
        rng = np.random.default_rng([self.seed, len(history.results), SALT_REC])
        eye = np.eye(k)
        edges = np.array([0.5 * (eye[i] + eye[j]) for i in range(k) for j in range(i + 1, k)]).reshape(-1, k)
        W = self.space.project(np.vstack([np.unique(om.obs.w, axis=0), eye, edges,
                                          self.space.sample(self.n_candidates, rng, 1.0, t)]), t)
        W = np.unique(np.round(W, 12), axis=0)  # a vertex drawn twice differs by rounding only
        if self.rec_evidence is not None:  # only mixtures near some observed one (as GPPolicy's recommendation)
            W = W[evidence.inside(W, om.obs.w, evidence.evidence_radius(om.obs.w, self.rec_evidence))]
        mean, sd = om.mean_sd(self.at_target(torch.tensor(W, dtype=DT)))
        score = mean + self.front_kappa * sd
        keep = np.flatnonzero(non_dominated(score))
        keep = keep[np.argsort(score[keep, 0], kind="stable")]
        if len(keep) > self.max_front:
            keep = keep[np.unique(np.round(np.linspace(0, len(keep) - 1, self.max_front)).astype(int))]
        return W[keep], mean[keep], sd[keep], score[keep]

    def _recommend(self, history: History) -> Mixture:
        """The member of the Pareto set that the problem's preference picks; the best observed run before the
        models exist."""
        from bomix.tradeoff import preferred

        self.pareto(history)
        front = self._pcache.get("front")
        if front is None:
            return self._best_observed(history)
        W, _, _, score = front
        return Mixture(W[preferred(score, self.problem.preference)], self.space.domains)

    def predict(self, history: History, mixture: Mixture) -> tuple[float, float] | None:
        """None: mobo models the trade-off's objectives (its Pareto set reports them), not the scalar objective."""
        return None
