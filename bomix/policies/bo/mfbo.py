"""``mfbo``: multi-fidelity BO that decides *what* at the target and *where* by information per unit cost."""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import torch

from bomix.acquisition.analytic import contrast, log_ei, noise_variance, pointwise
from bomix.acquisition.fixed import FixedFidelities
from bomix.acquisition.optimize import OptimizerConfig, maximize
from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.policies.bo.base import GPPolicy
from bomix.policies.bo.constraints import (CONSTRAINT_PROB, ConstraintModels, constrained_acq, feasible_incumbent,
                                          feasible_score, fit_constraint_models, warm_starts)
from bomix.policies.bo.continuation import continue_spec, fidelity_options, longest_runs
from bomix.policies.bo.recommend import DT, SALT_REC
from bomix.policies.bo.search import pool_options
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture
from bomix.surrogate.fit import spec_meta
from bomix.surrogate.gp import GPConfig
from bomix.surrogate.numerics import NUMERICAL_ERRORS, seeded_torch

log = logging.getLogger("bomix.policies.bo")

#: A mixture with nothing left to run is excluded within this Euclidean radius (then the next-best is tried) ...
BLOCK_RADIUS = 0.05
#: ... at most this many times per decision, after which the policy stops.
MAX_BLOCKED = 3
#: Continuing an earlier run is considered for the runs with the best target EI, at most this many.
MAX_CONTINUE = 4
#: Starting variance of the law basis' scale/step shifts (standardised outcome units; bounds (1e-6, 4)):
#: mixture effects are assumed to transfer across scale until data say otherwise.
LAW_SHIFT_INIT = 0.01
#: A fidelity costing at most this multiple of the cheapest one counts as cheapest (initial runs go there; a
#: dearer choice at w* triggers compare_alternative).
CHEAPEST_RATIO = 1.0 + 1e-9
#: mfbo's model (see "Model" in :class:`MFBOPolicy`): the level and invariant parts, the mixing-law basis with
#: small starting shifts, cold starts; L-BFGS iterations and ...
#: (``posterior_chunk=256``: candidates are scored as joint posteriors of 256, the same values to ~1e-12 and 3-11x
#: faster at 5000 observations (one decision 3.7 s at K = 17, 4.9 s at K = 64 instead of 12.7 s / 55.5 s on 2 cores);
#: rounding moves the acquisition's argmax, and whole campaigns on six problems were no worse, 27 seeds better and
#: 23 worse: benchmarks/README.md, "posterior_chunk=256 in whole campaigns".)
MFBO_GP = GPConfig(law=True, level=True, invariant=True, law_shift_init=LAW_SHIFT_INIT, cold_start=True, maxiter=40,
                   posterior_chunk=256)
#: ... acquisition search sizes: the ones every benchmark measured (about a second per decision on 2 cores at a
#: few hundred observations).
MFBO_SEARCH = OptimizerConfig(starts=3, iters=15)
#: mfbo's recommendation: argmax of posterior mean - 2 sd at the target (GP policies' default is 1). Paired on the
#: same campaigns (``benchmarks/recommendation_rules.py``, 10 seeds on each of six problems) it beat 1 sd on 37 seeds
#: and lost on 20, and it removed the one near-one-domain recommendation at K = 64 (p90 0.061 -> 0.029); the demo
#: lost 3 / 5 seeds (median 0.047 vs 0.044). A rule never changes the runs (decisions do not read it).
MFBO_REC_KAPPA = 2.0
#: Salt of the constraint GPs' torch stream (their fits draw apart from the objective's).
SALT_CONSTRAINTS = 13


class MFBOPolicy(GPPolicy):
    """Multi-fidelity BO: the mixture by EI at the target, the fidelity by information per unit cost.

    Model: an exact GP over ``[w, s, t]`` on every (subsampled) checkpoint, hyperparameters refitted at each
    decision on a subsample and warm-started from the previous decision's fit (carried in the specs' ``meta``).
    Its kernel is a sum of parts with their own amplitudes (``bomix.surrogate.gp``): the loss level across
    fidelities (``gp.level``: a kernel over ``(s, t)`` only), a mixture effect shared by every fidelity
    (``gp.invariant``: a kernel over ``w`` only, what transfers from the proxies to the target in full), the
    fidelity-specific rest (a Matern product kernel over all columns), and the mixing-law basis
    (``bomix.surrogate.law``) whose scale/step shifts start small (``gp.law_shift_init``: they stay at their start
    until runs at several fidelities identify them); optionally an independent level per fidelity
    (``gp.offset``, ``bomix.surrogate.offset``). Each refit starts both from the previous decision's fit and
    from the defaults and keeps the higher marginal likelihood (``gp.cold_start``): warm start after warm start,
    a sum of parts can drift into explaining the data by the wrong part. Measured
    (``benchmarks/mfms_speedup.py`` and ``benchmarks/policy_comparison.py``; variant ``mfbo_plain`` is the
    model without the first two parts, the shifts started mid-bounds and no cold starts): see
    benchmarks/README.md.

    Contrasts (``contrasts=True``, off by default): every decision is about the target value *relative to the
    incumbent* (the observed mixture with the best target posterior mean), ``D(w) = f_T(w) - f_T(inc)``.
    Uncertainty shared by all mixtures (the target's level before any target run, the level offset of a
    near-target fidelity) cancels in ``D``; on plain target values it inflates every EI alike (EI then
    degenerates to the posterior mean) and makes cheap runs look useless for the target. Measured on MFMS
    (``benchmarks/mfms_speedup.py``, variant ``mfbo_contrasts`` = contrasts + offset, 10 seeds per objective)
    this variant ended worse than the default on both objectives, so both are off by default; with
    ``contrasts`` the rules below read ``D`` where they say "target value".

    Decision: the mixture ``w*`` maximises the EI of the target value (pending runs fantasised). For each allowed, affordable fidelity ``f`` not yet measured near ``w*`` (continuations of a
    shorter run of ``w*`` at the same scale cost only their extra steps), the value of observing ``(w*, f)``
    is the fraction of the target value's posterior variance at ``w*`` it removes,
    ``cov(f, T)^2 / ((var_f + noise) var_T)``; the run goes to the fidelity with the largest fraction per
    unit cost. Cheap fidelities are used while they still teach about the target there (far from their
    earlier runs, and while the cross-fidelity correlation is high); once they are exhausted near the
    promising mixtures the target (or a near-target fidelity) wins. Continuing an earlier promising run is
    compared on the same scale: ``log EI + log fraction - log cost``.

    When ``w*`` has nothing left to run, a ball of ``BLOCK_RADIUS`` around it is excluded from the EI search
    (a hard local penalty in the spirit of González et al. 2016) and the next-best mixture is taken; after
    ``MAX_BLOCKED`` such mixtures the most uncertain of a few random mixtures is run instead (the policy
    stops only when nothing is affordable).

    When only fidelities dearer than the cheapest are left at ``w*`` (its cheap runs are done), the next-best
    EI mixture (``w*``'s ball excluded) is scored too, ``log EI + log fraction - log cost``, and the better of
    the two runs (``compare_alternative``): an expensive run is spent on ``w*`` only when it teaches more per
    unit cost than a cheap run elsewhere, instead of by default.

    Outcome constraints (the problem's ``constraints``, :mod:`bomix.constraints`): each constrained metric gets its
    own GP on the same inputs (:mod:`bomix.policies.bo.constraints`); the target EI becomes ``log EI + log PoF``
    (the probability that every bound holds at the target), over the best observed mixture that is more likely
    feasible than not (``log PoF`` alone while there is none); the fidelity is still chosen by what a run teaches
    about the objective. The recommendation is the best LCB among mixtures whose probability of feasibility is at
    least ``constraint_prob``; when none is, the most-likely-feasible mixture, said in the log and in
    summary.json (``constraints.predicted_feasible`` false).

    Initial design: space-filling mixtures at the cheapest allowed fidelity, sized by the budget.
    Recommendation: argmax of posterior mean - ``rec_kappa`` sd at the target (:data:`MFBO_REC_KAPPA`, 2; see
    :class:`GPPolicy`); with
    ``contrasts``, of ``E[D] - rec_kappa sd[D]`` (the incumbent scores 0: it is replaced only by a mixture the
    model is confident improves on it).

    Args:
        gp: the model (preset :data:`MFBO_GP`; its ``level`` / ``invariant`` / ``law_shift_init`` / ``offset`` /
            ``cold_start``: see "Model" above), e.g. ``gp={"offset": True}``.
        search: acquisition search sizes (preset :data:`MFBO_SEARCH`).
        continuation: also consider continuing earlier runs (only the extra steps cost).
        min_distance: a fidelity counts as measured at ``w`` when a run within this L1 distance of ``w``
            reached it: near-identical mixtures are not re-run at the same fidelity.
        contrasts: decide and recommend on contrasts with the incumbent (else on plain target values).
        compare_alternative: when nothing cheaper than the chosen fidelity is left to run at ``w*``, also score
            the best fidelity at the next-best EI mixture and run whichever scores more per unit cost.
        constraint_prob: the probability of feasibility a recommendation must reach under outcome constraints
            (None: :data:`bomix.policies.bo.constraints.CONSTRAINT_PROB`, 0.9).
        rec_kappa: the recommendation's sds below the posterior mean (:data:`MFBO_REC_KAPPA`).
        (others: see :class:`GPPolicy`)
    """

    name = "mfbo"
    tag = "mfbo"
    space_filling_init = True
    handles_constraints = True

    def __init__(self, gp: GPConfig = MFBO_GP, search: OptimizerConfig = MFBO_SEARCH, continuation: bool = True,
                 min_distance: float = 0.05, contrasts: bool = False, compare_alternative: bool = True,
                 n_init: int | None = None, constraint_prob: float | None = None, rec_kappa: float = MFBO_REC_KAPPA,
                 **kw):
        super().__init__(gp=gp, search=search, n_init=n_init, rec_kappa=rec_kappa, **kw)
        prob = CONSTRAINT_PROB if constraint_prob is None else float(constraint_prob)
        if not 0.0 < prob < 1.0:
            raise BomixError(f"mfbo: constraint_prob must be in (0, 1), got {constraint_prob}")
        self.constraint_prob = prob
        self._ccache: dict = {}
        self._warned_infeasible = False
        self.continuation = bool(continuation)
        self.contrasts = bool(contrasts)
        self.compare_alternative = bool(compare_alternative)
        if not 0.0 <= float(min_distance) < 2.0:
            raise BomixError(f"mfbo: min_distance must be in [0, 2) (an L1 distance on the simplex), got {min_distance}")
        self.min_distance = float(min_distance)

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        self._ccache, self._warned_infeasible = {}, False
        hedges = self.hedges()
        if problem.constraints and hedges:
            raise BomixError(f"mfbo: {', '.join(hedges)} does not apply under outcome constraints (the recommendation "
                             "is the best LCB among mixtures likely feasible): unset it or drop the constraints")

    # ----- outcome constraints ---------------------------------------------------------------
    def constraint_models(self, history, refit: bool = True) -> ConstraintModels | None:
        """The constraint GPs (None without constraints, or before each has 2 observations), cached per history
        state; ``refit=False`` loads the latest decision's hyperparameters (as :meth:`model` does)."""
        if not self.problem.constraints:
            return None
        frozen = self.freeze_hypers or (not refit and bool(warm_starts(history)))
        key = (tuple(r.spec.run_id for r in history.results), len(history.pending), frozen)
        if self._ccache.get("key") != key:
            with seeded_torch(self.seed, len(history.results), len(history.pending), SALT_CONSTRAINTS):
                cm = fit_constraint_models(history, self.encoder, self.problem.constraints, self.gp_cfg,
                                           frozen=frozen, on_fallback=self._fallback)
            self._ccache = {"key": key, "models": cm}
        return self._ccache["models"]

    def _decision_meta(self, model, history) -> dict:
        cm = self.constraint_models(history)
        return spec_meta(model) if cm is None else {**spec_meta(model), **cm.hypers()}

    def _pof(self, cm: ConstraintModels, w: np.ndarray) -> float:
        with torch.no_grad():
            return float(cm.log_pof(self.at_target(torch.tensor(np.asarray(w)[None], dtype=DT))).exp()[0])

    def feasibility(self, history, mixture: Mixture) -> float | None:
        """The probability that ``mixture`` meets every outcome constraint at the target (the recommendation's
        model); None without constraints or before their models exist."""
        if not self.problem.constraints:
            return None
        history = self._settled(history)
        with seeded_torch(self.seed, len(history.results), SALT_REC):
            try:
                cm = self.constraint_models(history, refit=False)
                return None if cm is None else self._pof(cm, mixture.weights)
            except NUMERICAL_ERRORS:
                self._fallback("feasibility failed")
                return None

    def _recommend(self, history) -> Mixture:
        """Without constraints: :meth:`GPPolicy._recommend`. With them: the best LCB among mixtures predicted
        feasible with probability ``constraint_prob``, else the most-likely-feasible mixture (logged)."""
        cm = self.constraint_models(history, refit=False)
        model, obs = self.model(history, refit=False)
        if cm is None or model is None:
            return super()._recommend(history)
        score = partial(feasible_score, self._rec_score(model, obs), cm, self.at_target, self.constraint_prob)
        mix = self._argmax_target(score, history, obs)
        p = self._pof(cm, mix.weights)
        if p < self.constraint_prob:
            mix = self._argmax_target(partial(constrained_acq, None, cm, self.at_target), history, obs)
            p = self._pof(cm, mix.weights)
            # once per stretch of such recommendations; expected (INFO) during the initial design
            designing = len(history.results) < self.n_initial(history)
            if not self._warned_infeasible:
                log.log(logging.INFO if designing else logging.WARNING, "mfbo: no mixture is predicted to meet the "
                        "outcome constraints with probability %.2g after %d runs: recommending the most likely "
                        "feasible one (probability %.2g)", self.constraint_prob, len(history.results), p)
            self._warned_infeasible = not designing
        else:
            self._warned_infeasible = False
        return mix

    def _cheapest_cost(self) -> float:
        """Cost of the cheapest fidelity this policy may run."""
        return min(self.problem.cost.of(f) for f in self.grid())

    def init_fidelities(self) -> list[Fidelity]:
        cheapest = self._cheapest_cost()
        return [f for f in self.grid() if self.problem.cost.of(f) <= CHEAPEST_RATIO * cheapest]

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        t = self.space.target
        x_inc, best = self._incumbent_point(model, obs)
        cm = self.constraint_models(history)
        feasible = True
        if cm is not None:  # the incumbent must be more likely feasible than not (else: log PoF alone)
            fx, fbest = feasible_incumbent(model, cm, self.at_target(torch.tensor(np.unique(obs.w, axis=0), dtype=DT)))
            feasible = fx is not None
            if feasible:
                x_inc, best = fx, fbest
        noise = noise_variance(base)
        ref = x_inc if self.contrasts else None  # the reference of every contrast

        def acq(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            if ref is not None:  # EI of the improvement over the incumbent: shared uncertainty cancels
                return log_ei(*contrast(model, self.at_target(W), ref), 0.0)
            mean, var = pointwise(model, self.at_target(W), self.gp_cfg.posterior_chunk)
            return log_ei(mean, var.clamp_min(1e-12).sqrt(), best)

        if cm is not None:
            acq = partial(constrained_acq, acq if feasible else None, cm, self.at_target)

        def ei_at(w: np.ndarray) -> float:
            with torch.no_grad():
                return float(acq(torch.tensor(w[None], dtype=DT), np.zeros(1, dtype=int))[0])

        if self.problem.proposals.is_pool:  # pool: the best pool point at the target, then its fidelity
            options = pool_options(acq, self.problem, self.grid(), np.arange(len(self.grid())), history, self.tag)
            if not options:
                return None
            w = max(options, key=lambda o: o[1])[0].mixture.weights
            return self._by_information(model, w, history, budget_left, pending, noise, ref)[0]
        extra = np.unique(obs.w, axis=0) if len(obs) else None
        blocked: list[np.ndarray] = []
        for _ in range(MAX_BLOCKED + 1):
            pen = acq if not blocked else partial(_penalised, acq, torch.tensor(np.array(blocked), dtype=DT),
                                                  BLOCK_RADIUS)
            w, _, _ = maximize(pen, self.space, [t], rng, self.opt_cfg, extra=extra)
            spec, gain = self._by_information(model, w, history, budget_left, pending, noise, ref)
            if spec is not None:
                break
            blocked.append(w)
        else:  # the EI optimum keeps landing on measured mixtures: explore a space-filling point instead
            log.info("mfbo: the %d best target-EI mixtures have nothing left to run: exploring", len(blocked))
            spec, gain = self._explore(model, history, budget_left, pending, noise, rng, ref)
            if spec is None:
                return None
            w = spec.mixture.weights
        score = ei_at(w) + gain
        if self.compare_alternative and not spec.resume_from and self.problem.cost(spec.scale, spec.steps) > \
                CHEAPEST_RATIO * self._cheapest_cost():
            # nothing cheap is left to run at w*: the next-best EI mixture may still teach more per unit cost
            pen = partial(_penalised, acq, torch.tensor(np.array([*blocked, w]), dtype=DT), BLOCK_RADIUS)
            w2, _, _ = maximize(pen, self.space, [t], rng, self.opt_cfg, extra=extra)
            spec2, gain2 = self._by_information(model, w2, history, budget_left, pending, noise, ref)
            score2 = ei_at(w2) + gain2 if spec2 is not None else -np.inf
            if score2 > score:
                spec, score = spec2, score2
        cont = self._continuable(history, pending)
        if cont:  # continuing a promising run may buy more per cost: the MAX_CONTINUE best by target EI
            with torch.no_grad():
                ei = acq(torch.tensor(np.array(cont), dtype=DT), np.zeros(len(cont), dtype=int)).numpy()
            for i in np.argsort(-ei)[:MAX_CONTINUE]:
                cspec, cgain = self._by_information(model, cont[i], history, budget_left, pending, noise, ref)
                if cspec is not None and cspec.resume_from and ei[i] + cgain > score:
                    spec, score = cspec, float(ei[i]) + cgain
        return spec

    def _explore(self, model, history, budget_left: float, pending, noise, rng: np.random.Generator,
                 ref: torch.Tensor | None = None, n: int = 64) -> tuple[RunSpec | None, float]:
        """The highest-target-sd mixture of ``n`` random draws that still has a fidelity to run, and its best fidelity."""
        t = self.space.target
        W = self.space.sample(n, rng, 1.0, t)
        with torch.no_grad():
            sd = model.posterior(self.at_target(torch.tensor(W, dtype=DT))).variance.squeeze(-1).numpy()
        for i in np.argsort(-sd):
            spec, gain = self._by_information(model, W[i], history, budget_left, pending, noise, ref)
            if spec is not None:
                return spec, gain
        return None, -np.inf

    def _rec_score(self, model, obs):
        """With ``contrasts`` (not on pools): ``E[D] - rec_kappa sd[D]``, ``D = f_T(w) - f_T(incumbent)``: a
        mixture replaces the incumbent (value 0) only when the model is confident it improves on it."""
        if not self.contrasts or self.problem.proposals.is_pool:
            return super()._rec_score(model, obs)
        kappa = self.rec_kappa
        ref = self._incumbent_point(model, obs)[0]

        def lcb(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            mean, sd = contrast(model, self.at_target(W), ref)
            return mean - kappa * sd

        return lcb

    def _continuable(self, history, pending) -> list[np.ndarray]:
        """Mixtures of ok runs that a longer run on the allowed grid could continue."""
        if not (self.continuation and self.problem.supports_continuation):
            return []
        top = {}
        for f in self.grid():
            top[f.scale] = max(top.get(f.scale, 0), f.steps)
        return [m.weights for (m, scale), s in longest_runs(history, pending).items() if s.steps < top.get(scale, 0)]

    def _by_information(self, model, w: np.ndarray, history, budget_left: float, pending, noise: torch.Tensor,
                        ref: torch.Tensor | None = None) -> tuple[RunSpec | None, float]:
        """``(spec, log(fraction of variance removed) - log cost)`` of the best fidelity at ``w``.

        The variance is that of the target value at ``w``, or with a reference ``ref`` (the incumbent's
        target input) that of the contrast ``f_T(w) - f_T(ref)``: what a run at ``w`` can teach about how
        ``w`` compares with the incumbent, not about the target's overall level (which a cheap run cannot
        tell and the recommendation does not need). At the incumbent itself (no contrast) the plain target
        variance is used."""
        t = self.space.target
        opts = [o for o in fidelity_options(self.problem, self.grid(), w, history, pending, self.min_distance,
                                            self.continuation) if o[1] <= budget_left + BUDGET_EPS and o[1] > 0]
        if self.problem.proposals.is_pool:
            pool = {f: self.problem.proposals.pool(f) for f, _, _ in opts}
            opts = [o for o in opts if len(pool[o[0]]) and np.isclose(pool[o[0]], w, atol=1e-9).all(1).any()]
        if not opts:
            return None, -np.inf
        at = FixedFidelities(self.space, [o[0] for o in opts] + [t])
        X = at.each(torch.tensor(w[None], dtype=DT))  # (m + 1) x d: w at each option's fidelity, then the target
        if ref is not None:
            X = torch.cat([X, ref[None]])  # (m + 2) x d
        with torch.no_grad():
            cov = model.posterior(X).mvn.covariance_matrix
        m = len(opts)
        var = cov.diagonal().clamp_min(1e-18)
        c_ft, v_t = cov[:m, m], var[m]
        if ref is not None:
            v_d = var[m] + var[m + 1] - 2 * cov[m, m + 1]
            if v_d > 1e-6 * var[m]:
                c_ft, v_t = cov[:m, m] - cov[:m, m + 1], v_d
        frac = (c_ft ** 2 / ((var[:m] + noise) * v_t)).clamp(1e-12, 1.0)
        score = frac.log() - torch.log(torch.tensor([o[1] for o in opts], dtype=DT))
        i = int(torch.argmax(score))
        f, _, prev = opts[i]
        if prev is not None:
            return continue_spec(prev, f.steps, tag="mfbo-continue"), float(score[i])
        return RunSpec(Mixture(w, self.space.domains), f.scale, f.steps, tag=self.tag), float(score[i])


def _penalised(acq, blocked: torch.Tensor, radius: float, W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
    """``acq(W, g)`` minus a barrier inside ``radius`` of the nearest blocked mixture (log-penalty plus
    ``1e4 * (1 - d / radius)``): ``W`` (b x K), ``blocked`` (m x K) -> (b,)."""
    d = torch.cdist(W, blocked).min(dim=-1).values
    return acq(W, g) + torch.log((d / radius).clamp(1e-9, 1.0)) - 1e4 * (1.0 - d / radius).clamp_min(0.0)
