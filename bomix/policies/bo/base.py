"""The shared decision loop of the GP policies: initial design, then one model-based proposal at a time
with the earlier ones fantasised; recommendation and prediction from the same model.

The parts live where they read as one rule each: the history -> tensors encoder
(:mod:`bomix.surrogate.observations`), the warm-started fit and fantasies (:mod:`bomix.surrogate.fit`), the
fidelity columns fixed during a search (:mod:`bomix.acquisition.fixed`), the search over the grid or a pool
(:mod:`bomix.policies.bo.search`), the initial design (:mod:`bomix.policies.design`), the recommendation and
prediction at the target (:mod:`bomix.policies.bo.recommend`). A subclass states its
rule in :meth:`GPPolicy._one`.

Every decision is a function of the history and the policy's seed only: numpy draws come from
``self.rng(history)`` and torch's global generator (BoTorch's fit retries and samplers use it) is seeded
per decision from the same inputs inside :func:`~bomix.surrogate.numerics.seeded_torch`, so the same config
and seed give the same campaign (on the same machine and thread count).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch

from bomix.acquisition.analytic import pointwise
from bomix.acquisition.fixed import FixedFidelities
from bomix.acquisition.optimize import OptimizerConfig
from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.history import History, Observations
from bomix.laws.regmix import design_prior
from bomix.policies.base import Policy
from bomix.policies.bo.metrics_model import METRICS_MODELS, fit_metric_models
from bomix.policies.bo.options import option_group
from bomix.policies.bo.recommend import DT, REC_KAPPA, TargetRecommender
from bomix.policies.bo.search import Option, affordable, best_options
from bomix.policies.design import DESIGNS, space_filling
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture
from bomix.surrogate.fit import fantasize, fit_history, spec_meta, warm_start
from bomix.surrogate.gp import GPConfig
from bomix.surrogate.numerics import NUMERICAL_ERRORS, seeded_torch
from bomix.surrogate.observations import ObservationEncoder

log = logging.getLogger("bomix.policies.bo")
#: ``acq_x(X)``: an acquisition over GP inputs ``b x (K + 2)`` -> ``(b,)``, larger is better.
AcqX = Callable[[torch.Tensor], torch.Tensor]

#: Salts of the per-decision random streams (numpy and torch), so that no two uses share draws.
SALT_ACQ, SALT_INIT, SALT_FIT = 0, 1, 7  # (SALT_REC = 99: recommend.py)
#: ... and of the fit of earlier campaigns' tasks (warm start)
SALT_TRANSFER = 23
#: Initial design sized by the budget: this fraction of it at the cheapest allowed fidelity ...
INIT_BUDGET_FRACTION = 0.02
#: ... and at least ``INIT_MIN_PER_DOMAIN * K + 2`` runs, at most as many as the GP conditions on
#: (``max_obs // max_per_run``: 500 by default).
INIT_MIN_PER_DOMAIN = 2
#: With a warm start (reused runs of earlier campaigns) the initial design has at most this many runs.
WARM_INIT_RUNS = 3


class GPPolicy(TargetRecommender, Policy):
    """Shared machinery: observations, warm-started fits, fantasies, batches, recommendation.

    Options come in two typed groups and a few flat keys. Each group's default is the policy's preset, a
    module constant of its own module (``MFBO_GP``, ``SFBO_SEARCH``, ...) that states only what differs from
    the group's field defaults; a policy without a preset for a group inherits this class's default. Pass a
    group either as an instance (used as given: ``gp=GPConfig(...)``) or as a mapping of changes applied onto
    the preset (``MFBOPolicy(gp={"maxiter": 5})`` keeps mfbo's law/level/... settings; on the command line
    ``policy.gp.maxiter=5``); an unknown key in such a mapping is a one-line :class:`BomixError` naming the
    valid keys (:func:`option_group`).

    Args:
        gp: how the GP is built and fitted (:class:`bomix.surrogate.gp.GPConfig`: kernel, the mixing-law
            basis ``law``, the ``level`` / ``invariant`` / ``offset`` parts, ``cold_start``, L-BFGS
            ``maxiter``, ``fit_max_obs``, a ``linear_mean``, ``fixed_noise`` ...).
        search: sizes of the acquisition search (:class:`bomix.acquisition.optimize.OptimizerConfig`:
            ``raw_samples``, ``starts``, ``iters``, ``step``; small values for smoke tests).
        n_init: initial runs before the model decides; None sizes them by the budget
            (``INIT_BUDGET_FRACTION`` of it at the cheapest allowed fidelity).
        max_per_run: checkpoints kept per run (log-spaced, last always kept).
        min_step_frac: ignore checkpoints earlier than this fraction of the smallest grid step.
        max_obs: at most this many observations (fewer checkpoints per run, then only the latest runs); the
            hyperparameters are fitted on at most ``gp.fit_max_obs`` of them (the GP conditions on all).
        fidelities: the fidelities the policy may run, as ``SCALE@STEPS`` strings (default: the whole
            grid). A backend whose logs hold only some fidelities should list exactly those.
        rec_kappa: recommendation = argmax of posterior mean - ``rec_kappa`` * sd at the target.
        rec_evidence: keep the recommendation within the ``rec_evidence``-quantile of the observed mixtures'
            nearest-neighbour TV distances of some observed mixture (:mod:`bomix.policies.bo.evidence`); None: anywhere.
        rec_shrink: move the recommendation from the argmax towards the initial design's prior mixture, to the
            point nearest the prior that the argmax is predicted better than by at most ``rec_shrink`` sds (of the
            difference, at the target; :mod:`bomix.policies.bo.shrink`), or ``"pbest"``: to the expected position of
            the best point of that segment; None: the argmax. Not on pools, nor with constraints (mfbo).
        rec_topk: instead of the argmax, the mean of the ``rec_topk`` best (by posterior mean at the target) of 100k
            Dirichlet draws around the design's prior mixture: RegMix's top-k rule on the GP's target posterior. None:
            the argmax. Not on pools, nor with constraints (mfbo).
        rec_centre: instead of the argmax, the posterior mean of the optimum's position: the mean, over joint posterior
            draws at the target, of the best of the argmax and 3000 Dirichlet draws around the design's prior mixture
            (:func:`bomix.policies.bo.recommend.expected_best`). Where the posterior is sure of its argmax it is the
            argmax; where it is not, a hedge. Not with ``rec_topk``, on pools, nor with constraints (mfbo).
        rec_robust: instead of the argmax, the candidate (the argmax, 3000 prior draws, the observed mixtures) with
            the smallest ``rec_robust``-quantile of regret over joint posterior draws at the target
            (:func:`bomix.policies.bo.recommend.robust_best`). None: off. Not with ``rec_centre`` / ``rec_topk``, on
            pools, nor with constraints (mfbo).
        metrics_model: ``scalar`` (one GP of the objective) or ``independent`` (an objective over several metrics
            modelled by one GP per metric, combined: :mod:`bomix.policies.bo.metrics_model`).
        init_design: the space-filling initial design of mfbo and mobo (:func:`bomix.policies.design.space_filling`):
            ``dirichlet`` (Dirichlet draws from sparse to near the prior) or ``simplex`` (uniform on the simplex).
    """

    name = "gp"
    multi_fidelity = True
    searches_phases = True
    tag = "bo"
    #: initial mixtures from a scrambled Sobol sequence (else uniform random draws, as the papers' baselines do)
    space_filling_init = False
    #: refit the hyperparameters at every decision (else load the first fit's and keep them: the MFMS paper)
    freeze_hypers = False

    def __init__(self, gp: GPConfig = GPConfig(), search: OptimizerConfig = OptimizerConfig(), n_init: int | None = 6,
                 max_per_run: int = 4, min_step_frac: float = 0.25, max_obs: int = 2000,
                 fidelities: list[str] | None = None, rec_kappa: float = REC_KAPPA,
                 rec_evidence: float | None = None, rec_shrink: float | str | None = None, rec_topk: int | None = None,
                 rec_centre: bool = False, rec_robust: float | None = None, metrics_model: str = "scalar",
                 init_design: str = "dirichlet"):
        if (n_init is not None and int(n_init) < 1) or int(max_per_run) < 1:
            raise BomixError(f"{self.name}: n_init and max_per_run must be >= 1 (got {n_init}, {max_per_run})")
        self.gp_cfg = option_group(self, "gp", gp)
        self.n_init = None if n_init is None else int(n_init)
        self.max_per_run = int(max_per_run)
        self.max_obs = int(max_obs)
        self.min_step_frac = float(min_step_frac)
        self.opt_cfg = option_group(self, "search", search)
        self.allowed = None if fidelities is None else [Fidelity.parse(v) for v in fidelities]
        self.set_rule(rec_kappa, rec_evidence, rec_shrink, rec_topk, rec_centre, rec_robust)
        self._shrunk: dict | None = None
        if metrics_model not in METRICS_MODELS:
            raise BomixError(f"{self.name}: metrics_model must be one of {', '.join(METRICS_MODELS)}, got {metrics_model!r}")
        self.metrics_model = metrics_model
        if init_design not in DESIGNS:
            raise BomixError(f"{self.name}: init_design must be one of {', '.join(DESIGNS)}, got {init_design!r}")
        if init_design != "dirichlet" and not self.space_filling_init:
            raise BomixError(f"{self.name}: init_design applies to the space-filling designs of mfbo and mobo; "
                             f"{self.name} draws its initial mixtures at random: leave init_design unset")
        self.init_design = init_design
        self._cache: dict = {}
        self._rec_cache: dict = {}
        self._fallbacks: Counter = Counter()
        self._transfer_use: Counter = Counter()

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        if problem.space.target is None or not problem.space.step_grid:
            raise BomixError(f"{self.name} needs a space with a target fidelity and a step grid")
        if self.allowed is not None:
            full = set(problem.proposals.fidelities())
            bad = [str(f) for f in self.allowed if f not in full]
            if bad:
                raise BomixError(f"{self.name}: fidelities {bad} are not on the problem's grid "
                                 f"{[str(f) for f in problem.proposals.fidelities()]}")
        self._cache, self._rec_cache, self._shrunk = {}, {}, None
        self._fallbacks = Counter()
        self._transfer_use: Counter = Counter()
        self._transfer_key = self._transfer = None
        #: GP inputs of mixtures at the allowed grid's fidelities (indexed as ``grid()``) / at the target
        self.at_grid = FixedFidelities(problem.space, self.grid())
        self.at_target = FixedFidelities(problem.space, [problem.space.target])

    def grid(self) -> list[Fidelity]:
        """The fidelities this policy may run (the problem's honest grid, or the configured subset), in grid order."""
        full = self.problem.proposals.fidelities()
        return full if self.allowed is None else [f for f in full if f in set(self.allowed)]

    def diagnostics(self) -> dict:
        """Numerical fallbacks of this process's decisions (0 in an ordinary campaign)."""
        out = {"fallbacks": int(sum(self._fallbacks.values())), "fallback_reasons": dict(self._fallbacks)}
        if self._transfer_use:  # a warm start: decisions that used the earlier campaigns' tasks or declined them
            out["reuse_fits"] = dict(self._transfer_use)
        if self._shrunk is not None:  # the latest recommendation's move towards the prior
            out["shrink"] = self._shrunk
        return out

    def _fallback(self, reason: str) -> None:
        self._fallbacks[reason.split(":")[0][:80]] += 1

    # ----- model -----------------------------------------------------------------------------
    @property
    def encoder(self) -> ObservationEncoder:
        """History -> the GP's data, as this policy's settings say (:mod:`bomix.surrogate.observations`)."""
        return ObservationEncoder(self.space, checkpoints=self.multi_fidelity, max_per_run=self.max_per_run,
                                  min_step_frac=self.min_step_frac, max_obs=self.max_obs)

    def observations(self, history: History) -> Observations:
        """The GP's training data: subsampled checkpoints (MF) or final target-fidelity values (SF)."""
        return self.encoder.observations(history)

    def model(self, history: History, refit: bool = True):
        """``(model, obs)``: the GP fitted on the history (cached per history state); None before 2 obs.

        ``refit=False`` (recommendations and predictions): condition on every observation with the
        hyperparameters of the latest decision (stored with its specs) instead of refitting them; a fit as
        usual when no decision has stored any yet (the initial design). The campaign recommends after every
        finished run, so this saves one hyperparameter fit per run; it is a function of the history all the same."""
        frozen = self.freeze_hypers or (not refit and warm_start(history) is not None)
        key = (tuple(r.spec.run_id for r in history.results), len(history.pending), frozen)
        if self._cache.get("key") == key:
            return self._cache["model"], self._cache["obs"]
        obs = self.observations(history)
        if len(obs) < 2:
            return None, obs
        X, Y = self.encoder.tensors(obs)
        prior = self.transfer_prior(history)
        with seeded_torch(self.seed, len(history.results), len(history.pending), SALT_FIT):
            if self.metrics_model == "independent" and len(self.problem.objective.metrics) > 1:
                model = fit_metric_models(self.encoder, history, self.gp_cfg, frozen=frozen,
                                          on_fallback=self._fallback)
                if model is None:
                    return None, obs
            elif prior is None:
                model = fit_history(X, Y, history, self.gp_cfg, frozen=frozen, on_fallback=self._fallback)
            else:
                model = self._fit_reused(X, Y, history, frozen, prior)
        self._cache = {"key": key, "model": model, "obs": obs}
        return model, obs

    def _fit_reused(self, X, Y, history: History, frozen: bool, prior):
        """With a warm start: the GP with earlier campaigns' tasks or the plain one, whichever the new runs' marginal
        likelihood prefers (:func:`bomix.surrogate.transfer.prefer`), so unrelated old evidence is declined; with
        ``frozen`` hyperparameters the kind the latest decision chose."""
        from bomix.surrogate.transfer import prefer, uses_transfer

        warm = warm_start(history)
        if frozen and warm is not None:
            kind = prior if uses_transfer(warm) else None
            return fit_history(X, Y, history, self.gp_cfg, frozen=True, on_fallback=self._fallback, prior=kind)
        with_tasks = fit_history(X, Y, history, self.gp_cfg, frozen=frozen, on_fallback=self._fallback, prior=prior)
        plain = fit_history(X, Y, history, self.gp_cfg, frozen=frozen, on_fallback=self._fallback)
        model, used = prefer(with_tasks, plain, len(prior.tasks))
        self._transfer_use["used" if used else "declined"] += 1
        return model

    def transfer_prior(self, history: History):
        """Earlier campaigns' runs as other tasks (:mod:`bomix.surrogate.transfer`), fitted once per reused set and
        cached; None without a warm start (then the GP is the plain one)."""
        reused = history.reused
        if reused is None or not len(reused.obs):
            return None
        if self._transfer_key != reused.fingerprint:
            from bomix.surrogate.transfer import fit_transfer, reused_observations

            obs, task = reused_observations(reused, self.space, self.multi_fidelity, self.max_per_run,
                                            self.min_step_frac, self.max_obs)
            X, Y = self.encoder.tensors(obs)
            with seeded_torch(self.seed, SALT_TRANSFER):
                self._transfer = fit_transfer(X, Y, task, self.gp_cfg, seed=self.seed, on_fallback=self._fallback)
            self._transfer_key = reused.fingerprint
        return self._transfer

    def fantasize(self, model, specs: Sequence[RunSpec]):
        """Condition on pending/just-chosen runs at their posterior mean (kriging believer)."""
        return fantasize(model, self.encoder.spec_inputs(specs), self.gp_cfg, on_fallback=self._fallback)

    # ----- decisions -------------------------------------------------------------------------
    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        with seeded_torch(self.seed, history.n_dispatched, SALT_ACQ):
            try:
                return self._ask(history, budget_left, n)
            except NUMERICAL_ERRORS as exc:
                log.warning("%s: decision failed numerically (%s); proposing random runs instead",
                            self.name, str(exc).splitlines()[0][:200])
                self._fallback(f"decision failed ({type(exc).__name__})")
                return self.initial(history, budget_left, n, tag="fallback")

    def n_initial(self, history: History) -> int:
        """Initial runs of this campaign: ``n_init``, or sized by the budget (see the class docstring)."""
        if self.n_init is not None:
            return self._warm_capped(self.n_init, history)
        fids = self.init_fidelities()
        cheapest = min(self.problem.cost.of(f) for f in fids)
        budget = history.budget if np.isfinite(history.budget) else 1.0
        n = int(round(INIT_BUDGET_FRACTION * budget / max(cheapest, 1e-12)))
        return self._warm_capped(int(np.clip(n, INIT_MIN_PER_DOMAIN * self.space.k + 2, self.init_max)), history)

    @staticmethod
    def _warm_capped(n: int, history: History) -> int:
        """With reused runs (a warm start) at most :data:`WARM_INIT_RUNS` initial runs: the old task's prior plays the
        initial design's part, and a few new runs identify its level and coefficient."""
        reused = history.reused
        return min(n, WARM_INIT_RUNS) if reused is not None and len(reused.obs) else n

    @property
    def init_max(self) -> int:
        """The largest budget-sized initial design: the runs the GP conditions on at ``max_per_run`` each."""
        return max(1, self.max_obs // self.max_per_run)

    def _ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        specs = history.all_specs()
        n_init_left = self.n_initial(history) - sum(1 for s in specs if s.tag == "init")
        if n_init_left > 0 and not any(s.tag not in ("init", "fallback") for s in specs):
            return self.initial(history, budget_left, min(n, n_init_left))
        model, obs = self.model(history)
        if model is None:
            if history.pending:
                return []  # wait for the initial runs
            return self.initial(history, budget_left, n)
        meta = self._decision_meta(model, history)
        rng = self.rng(history)
        chosen: list[RunSpec] = []
        fmodel = self.fantasize(model, history.pending)
        left = budget_left
        for _ in range(n):
            spec = self._one(fmodel, model, history, obs, rng, left, list(history.pending) + chosen)
            if spec is None:
                break
            spec = spec.with_(meta=meta)
            chosen.append(spec)
            left -= self.problem.cost(spec.scale, spec.steps, spec.start_step)
            if len(chosen) < n:
                fmodel = self.fantasize(fmodel, [spec])
        return chosen

    def _decision_meta(self, model, history: History) -> dict:
        """What this decision stores with each spec it proposes (``spec.meta``): the fitted hypers, the next
        decision's warm start."""
        return spec_meta(model)

    @abstractmethod
    def _one(self, model, base, history: History, obs: Observations, rng: np.random.Generator,
             budget_left: float, pending: list[RunSpec]) -> RunSpec | None:
        """One proposal (None: nothing worth running or affordable). ``model`` has the pending runs (and the
        batch's earlier choices) fantasised; ``base`` does not."""

    def _choose(self, acq_x: AcqX, history: History, obs: Observations, rng: np.random.Generator,
                budget_left: float, fids: Sequence[Fidelity] | None = None,
                cfg: OptimizerConfig | None = None) -> list[Option]:
        """Best (spec, value) of ``acq_x`` (over GP inputs) over the affordable ones of ``fids`` (default the
        allowed grid): one option on a continuous problem, the best pool point per fidelity on a pool."""
        grid = self.grid()
        fids = grid if fids is None else [f for f in fids if f in set(grid)]
        gidx = affordable(self.problem, grid, fids, budget_left)
        if not len(gidx):
            return []
        return best_options(self.at_grid.wrap(acq_x), self.problem, grid, gidx, history, obs, rng,
                            cfg or self.opt_cfg, self.tag)

    # ----- initial design --------------------------------------------------------------------
    def init_fidelities(self) -> list[Fidelity]:
        t = self.space.target
        return [t] if t in set(self.grid()) else [max(self.grid(), key=self.problem.cost.of)]

    def initial(self, history: History, budget_left: float, n: int, tag: str = "init") -> list[RunSpec]:
        """Initial mixtures (space-filling or random) at the initial fidelities (a random one each)."""
        rng = self.rng(history, salt=SALT_INIT)
        fids = [f for f in self.init_fidelities() if self.problem.cost.of(f) <= budget_left + BUDGET_EPS]
        if not fids or n < 1:
            return []
        if self.problem.proposals.is_pool:
            done = {(s.mixture, s.fidelity) for s in history.all_specs()}
            free = [(m, f) for m, f in self.problem.candidates if f in fids and (m, f) not in done]
            idx = rng.choice(len(free), size=min(n, len(free)), replace=False) if free else []
            return [RunSpec(Mixture(free[i][0].weights, self.space.domains), free[i][1].scale, free[i][1].steps,
                            tag=tag) for i in idx]
        # one space-filling design for the whole initial batch, drawn from the campaign seed: a batch
        # asked in pieces continues the same sequence
        if self.space_filling_init:
            done = sum(1 for s in history.all_specs() if s.tag == tag)
            design = space_filling(self.space, done + n, np.random.default_rng([self.seed, SALT_INIT]), fids[0],
                                   prior=design_prior(self.space.tokens, self.space.k), kind=self.init_design)[done:]
        else:
            design = self.space.sample(n, rng)
        specs = []
        for w in design:
            f = fids[rng.integers(len(fids))] if len(fids) > 1 else fids[0]
            specs.append(RunSpec(Mixture(self.space.project(w, f)[0], self.space.domains), f.scale, f.steps,
                                 tag=tag))
        return specs

    def _incumbent(self, model, obs: Observations) -> float:
        """Best posterior mean (of ``-loss``) at the target among observed mixtures."""
        return self._incumbent_point(model, obs)[1]

    def _incumbent_point(self, model, obs: Observations) -> tuple[torch.Tensor, float]:
        """``(x (K + 2,), value)``: target input and posterior mean (of ``-loss``) of the observed mixture
        with the best posterior mean at the target."""
        X = self.at_target(torch.tensor(np.unique(obs.w, axis=0), dtype=DT))
        with torch.no_grad():
            chunk = self.gp_cfg.posterior_chunk
            mean = pointwise(model, X, chunk)[0] if chunk else model.posterior(X).mean.squeeze(-1)
        i = int(torch.argmax(mean))
        return X[i], float(mean[i])

    def _target_set(self, model, obs: Observations, rng: np.random.Generator, n: int) -> torch.Tensor:
        """``m x (K + 2)`` target-fidelity points: observed mixtures, vertices and random draws."""
        t = self.space.target
        W = np.vstack([np.unique(obs.w, axis=0), np.eye(self.space.k), self.space.sample(n, rng, 1.0, t)])
        return self.at_target(torch.tensor(self.space.project(W, t), dtype=DT))
