"""Bayesian-optimisation policies over mixture x fidelity.

- :class:`MFBOPolicy` (``mfbo``): our multi-fidelity rule. A GP over ``[w, s, t]`` on every (subsampled)
  checkpoint, hyperparameters refitted at each decision and warm-started from the previous decision's
  fit (carried in the specs' ``meta``, so a resumed campaign rebuilds it exactly). The mixture maximises
  EI at the target fidelity; the run goes to the cheapest fidelity still informative about the target
  there (continuations of earlier runs included, only their extra steps cost).
- :class:`MFKGPolicy` (``mfkg``): multi-fidelity knowledge gradient (value of the target's posterior-mean
  maximum after a fantasised observation, BoTorch's ``project_to_target_fidelity`` and
  ``InverseCostWeightedUtility``), evaluated on a discrete target set to stay tractable on 2 cores.
- :class:`MFMESPolicy` (``mfmes``): BoTorch's multi-fidelity GIBBON
  (``qMultiFidelityLowerBoundMaxValueEntropy``) with the inverse-cost utility.
- :class:`SFBOPolicy` (``sfbo``): single-fidelity qLogNEI at the target only.
- :class:`MFMSEIPolicy` (``mfms_ei``): the MFMS paper's rule as in its code (see its docstring).

All: batches and asynchronous dispatch (pending runs enter as kriging-believer fantasies, or as
``X_pending`` for qLogNEI), recommendation = the best posterior mean at the target fidelity (among the
pool's target points on a pool backend). Every decision is a function of the history and
``self.rng(history)`` only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.max_value_entropy_search import qMultiFidelityLowerBoundMaxValueEntropy
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.sampling.normal import SobolQMCNormalSampler
from linear_operator.utils.errors import NotPSDError

from bomix.acquisition.analytic import log_cost_ei, log_ei, log_target_aei, noise_variance
from bomix.acquisition.cost import inverse_cost_utility
from bomix.acquisition.optimize import OptimizerConfig, maximize, maximize_logits
from bomix.errors import BomixError
from bomix.history import History, Observations
from bomix.policies.base import Policy
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture
from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of

log = logging.getLogger("bomix.policies.bo")
DT = torch.double
Acq = Callable[[torch.Tensor, np.ndarray], torch.Tensor]


class GPPolicy(Policy):
    """Shared machinery: observations, warm-started fits, fantasies, batches, recommendation.

    Args:
        kernel: GP kernel (see :class:`bomix.surrogate.gp.GPConfig`).
        n_init: random initial runs before the model decides.
        max_per_run: checkpoints kept per run (log-spaced, last always kept).
        min_step_frac: ignore checkpoints earlier than this fraction of the smallest grid step.
        raw_samples / starts / iters: acquisition optimiser sizes (small values for smoke tests).
        maxiter: L-BFGS iterations of each hyperparameter fit.
        max_obs: at most this many observations (fewer checkpoints per run, then only the latest runs).
        linear_mean: a linear prior mean over ``[w, s, t]`` instead of a constant: far from data the
            posterior follows the trend (loss falls with scale, steps and the weight of helpful domains),
            so optima on the simplex boundary are reached from interior data.
    """

    name = "gp"
    multi_fidelity = True
    tag = "bo"

    def __init__(self, kernel: str = "product", n_init: int = 6, max_per_run: int = 4,
                 min_step_frac: float = 0.25, raw_samples: int = 384, starts: int = 6, iters: int = 30,
                 maxiter: int = 60, max_obs: int = 300, linear_mean: bool = False):
        if int(n_init) < 1 or int(max_per_run) < 1:
            raise BomixError(f"{self.name}: n_init and max_per_run must be >= 1 (got {n_init}, {max_per_run})")
        try:
            self.gp_cfg = GPConfig(kernel=kernel, maxiter=int(maxiter), linear_mean=bool(linear_mean))
        except ValueError as exc:
            raise BomixError(f"{self.name}: {exc}") from None
        self.n_init = int(n_init)
        self.max_per_run = int(max_per_run)
        self.max_obs = int(max_obs)
        self.min_step_frac = float(min_step_frac)
        self.opt_cfg = OptimizerConfig(raw_samples=int(raw_samples), starts=int(starts), iters=int(iters))
        self._cache: dict = {}

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        if problem.space.target is None or not problem.space.step_grid:
            raise BomixError(f"{self.name} needs a space with a target fidelity and a step grid")
        self._cache = {}

    # ----- data ------------------------------------------------------------------------------
    def observations(self, history: History) -> Observations:
        """The GP's training data: subsampled checkpoints (MF) or final target-fidelity values (SF)."""
        t = self.space.target
        if not self.multi_fidelity:
            return _dedupe(history.at_fidelity(t))
        min_step = self.min_step_frac * min(self.space.step_grid)
        per_run = self.max_per_run
        while True:  # fewer checkpoints per run until the data fits max_obs (keeps decisions fast)
            obs = history.observations(checkpoints=True, max_per_run=per_run)
            obs = _dedupe(obs.select(obs.steps >= min_step))
            if len(obs) <= self.max_obs or per_run == 1:
                break
            per_run -= 1
        if len(obs) > self.max_obs:  # still too many: the latest runs' finals, and every target observation
            order = {rid: i for i, rid in enumerate(r.spec.run_id for r in history.ok)}
            rank = np.array([order.get(r, 0) for r in obs.run_ids])
            at_t = (obs.scales == t.scale) & (obs.steps == t.steps)
            others = np.sort(rank[~at_t])[::-1]
            n_keep = min(len(others), max(0, self.max_obs - int(at_t.sum())))
            cut = others[n_keep - 1] if n_keep else np.inf
            obs = obs.select(at_t | (rank >= cut))
        return obs

    def encode(self, w: np.ndarray, scale, steps) -> np.ndarray:
        return self.space.encode(w, scale, steps)

    def _warm(self, history: History) -> dict | None:
        """The hyperparameters stored with the latest spec that carries some (pure function of history)."""
        for spec in reversed(history.all_specs()):
            if spec.meta and "gp" in spec.meta:
                return spec.meta["gp"]
        return None

    def model(self, history: History):
        """``(model, obs)``: the GP fitted on the history (cached per history state); None before 2 obs."""
        key = (tuple(r.spec.run_id for r in history.results), len(history.pending))
        if self._cache.get("key") == key:
            return self._cache["model"], self._cache["obs"]
        obs = self.observations(history)
        if len(obs) < 2:
            return None, obs
        X = torch.tensor(self.encode(obs.w, list(obs.scales), obs.steps), dtype=DT)
        Y = torch.tensor(-obs.y, dtype=DT).unsqueeze(-1)
        model = self.fit(X, Y, history)
        self._cache = {"key": key, "model": model, "obs": obs}
        return model, obs

    def fit(self, X: torch.Tensor, Y: torch.Tensor, history: History):
        return fit_gp(X, Y, self.gp_cfg, warm=self._warm(history))

    def meta(self, model, history: History) -> dict:
        """State stored with each proposed spec (the fitted hypers: the next decision's warm start)."""
        return {"gp": hypers_of(model)}

    def fantasize(self, model, specs: Sequence[RunSpec]):
        """Condition on pending/just-chosen runs at their posterior mean (kriging believer)."""
        if not specs:
            return model
        X = torch.tensor(np.vstack([self.encode(s.mixture.weights, s.scale, s.steps) for s in specs]), dtype=DT)
        with torch.no_grad():
            Yf = model.posterior(X).mean
        kw = {}
        if self.gp_cfg.fixed_noise is not None:
            kw["noise"] = torch.full_like(Yf, self.gp_cfg.fixed_noise)
        try:
            return model.condition_on_observations(X, Yf, **kw)
        except Exception as exc:  # noqa: BLE001 - fantasies are a nicety; keep deciding without them
            log.warning("could not condition on pending runs: %s", exc)
            return model

    # ----- decisions -------------------------------------------------------------------------
    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        try:
            return self._ask(history, budget_left, n)
        except (NotPSDError, FloatingPointError, RuntimeError) as exc:
            log.warning("%s: decision failed numerically (%s); proposing random runs instead",
                        self.name, str(exc).splitlines()[0][:200])
            return self.initial(history, budget_left, n, tag="fallback")

    def _ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        n_init_left = self.n_init - sum(1 for s in history.all_specs() if s.tag == "init")
        if n_init_left > 0:
            return self.initial(history, budget_left, min(n, n_init_left))
        model, obs = self.model(history)
        if model is None:
            if history.pending:
                return []  # wait for the initial runs
            return self.initial(history, budget_left, n)
        meta = self.meta(model, history)
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
            left -= self.problem.cost(spec.scale, spec.steps, spec.resume_step if spec.resume_from else 0)
            if len(chosen) < n:
                fmodel = self.fantasize(fmodel, [spec])
        return chosen

    def _one(self, model, base, history: History, obs: Observations, rng: np.random.Generator,
             budget_left: float, pending: list[RunSpec]) -> RunSpec | None:
        """One proposal. ``model`` has the pending runs fantasised; ``base`` does not."""
        raise NotImplementedError

    def _choose(self, acq: Acq, history: History, obs: Observations, rng: np.random.Generator,
                budget_left: float, fids: Sequence[Fidelity] | None = None,
                cfg: OptimizerConfig | None = None) -> list[tuple[RunSpec, float]]:
        """Best (spec, value) of ``acq(W, grid_index)`` over affordable fidelities (pool points on a pool)."""
        grid = self.space.fidelity_grid()
        fids = grid if fids is None else list(fids)
        gidx = np.array([grid.index(f) for f in fids if self.problem.cost.of(f) <= budget_left + 1e-12], dtype=int)
        if not len(gidx):
            return []
        if self.problem.candidates is not None:
            return self._pool_options(acq, grid, gidx, history)
        w, gi, val = maximize(lambda W, g: acq(W, gidx[g]), self.space, [grid[i] for i in gidx], rng,
                              cfg or self.opt_cfg, extra=np.unique(obs.w, axis=0) if len(obs) else None)
        f = grid[gidx[gi]]
        return [(RunSpec(Mixture(w, self.space.domains), f.scale, f.steps, tag=self.tag), val)]

    def _pool_options(self, acq: Acq, grid: list[Fidelity], gidx: np.ndarray, history: History):
        """On a pool backend: the best not-yet-run pool point at each affordable fidelity."""
        done = {(s.mixture, s.fidelity) for s in history.all_specs()}
        out = []
        for gi in gidx:
            f = grid[gi]
            pool = self._pool(f)
            if not len(pool):
                continue
            keep = np.array([(Mixture(w), f) not in done for w in pool], dtype=bool)
            if not keep.any():
                continue
            W = pool[keep]
            with torch.no_grad():
                v = acq(torch.tensor(W, dtype=DT), np.full(len(W), gi)).numpy()
            i = int(np.argmax(v))
            out.append((RunSpec(Mixture(W[i], self.space.domains), f.scale, f.steps, tag=self.tag), float(v[i])))
        return out

    def _grid_x(self, W: torch.Tensor, gidx: np.ndarray) -> torch.Tensor:
        """``b x K`` mixtures at grid fidelities ``gidx (b,)`` -> ``b x (K + 2)`` GP inputs."""
        grid = self.space.fidelity_grid()
        coords = torch.tensor([[self.space.scale_coord(f.scale), self.space.step_coord(f.steps)] for f in grid],
                              dtype=DT)
        return torch.cat([W, coords[torch.as_tensor(gidx)]], dim=-1)

    # ----- initial design --------------------------------------------------------------------
    def init_fidelities(self) -> list[Fidelity]:
        return [self.space.target]

    def initial(self, history: History, budget_left: float, n: int, tag: str = "init") -> list[RunSpec]:
        """Random mixtures (uniform on the feasible simplex) at random initial fidelities."""
        rng = self.rng(history, salt=1)
        fids = [f for f in self.init_fidelities() if self.problem.cost.of(f) <= budget_left + 1e-12]
        if not fids:
            return []
        if self.problem.candidates is not None:
            done = {(s.mixture, s.fidelity) for s in history.all_specs()}
            free = [(m, f) for m, f in self.problem.candidates if f in fids and (m, f) not in done]
            idx = rng.choice(len(free), size=min(n, len(free)), replace=False) if free else []
            return [RunSpec(Mixture(free[i][0].weights, self.space.domains), free[i][1].scale, free[i][1].steps,
                            tag=tag) for i in idx]
        specs = []
        for w in self.space.sample(n, rng):
            f = fids[rng.integers(len(fids))]
            specs.append(RunSpec(Mixture(self.space.project(w, f)[0], self.space.domains), f.scale, f.steps,
                                 tag=tag))
        return specs

    # ----- recommendation --------------------------------------------------------------------
    def recommend(self, history: History) -> Mixture:
        try:
            return self._recommend(history)
        except (NotPSDError, FloatingPointError, RuntimeError) as exc:
            log.warning("%s: recommendation failed numerically (%s); using the best observation",
                        self.name, str(exc).splitlines()[0][:200])
            return self._best_observed(history)

    def _best_observed(self, history: History) -> Mixture:
        """Best observed mixture at the target fidelity, else the final value of any run, else the centre."""
        tgt = history.at_fidelity(self.space.target)
        if len(tgt):
            return Mixture(tgt.w[int(np.argmin(tgt.y))], self.space.domains)
        every = history.observations(checkpoints=False)
        return Mixture(every.w[int(np.argmin(every.y))], self.space.domains) if len(every) else self.space.center()

    def _recommend(self, history: History) -> Mixture:
        model, obs = self.model(history)
        t = self.space.target
        if model is None:
            return self._best_observed(history)
        pool = self._pool(t)
        if pool is not None and len(pool):
            X = torch.tensor(self.encode(pool, t.scale, t.steps), dtype=DT)
            with torch.no_grad():
                mu = model.posterior(X).mean.squeeze(-1).numpy()
            return Mixture(pool[int(np.argmax(mu))], self.space.domains)

        def mean(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            return model.posterior(self._x(W, t)).mean.squeeze(-1)

        w, _, _ = maximize(mean, self.space, [t], np.random.default_rng([self.seed, len(history.results), 99]),
                           self.opt_cfg, extra=np.unique(obs.w, axis=0))
        return Mixture(w, self.space.domains)

    def _x(self, W: torch.Tensor, fid: Fidelity) -> torch.Tensor:
        sc = torch.tensor([self.space.scale_coord(fid.scale), self.space.step_coord(fid.steps)], dtype=DT)
        return torch.cat([W, sc.expand(W.shape[0], 2)], dim=-1)

    def _pool(self, fid: Fidelity) -> np.ndarray | None:
        if self.problem.candidates is None:
            return None
        pts = [m.weights for m, f in self.problem.candidates if f == fid]
        return np.array(pts) if pts else np.zeros((0, self.space.k))

    def _incumbent(self, model, obs: Observations) -> float:
        """Best posterior mean (of ``-loss``) at the target among observed mixtures."""
        t = self.space.target
        W = np.unique(obs.w, axis=0)
        with torch.no_grad():
            return float(model.posterior(torch.tensor(self.encode(W, t.scale, t.steps), dtype=DT)).mean.max())

    def _target_set(self, model, obs: Observations, rng: np.random.Generator, n: int) -> torch.Tensor:
        """``m x (K + 2)`` target-fidelity points: observed mixtures, vertices and random draws."""
        t = self.space.target
        W = np.vstack([np.unique(obs.w, axis=0), np.eye(self.space.k), self.space.sample(n, rng, 1.0, t)])
        return torch.tensor(self.encode(self.space.project(W, t), t.scale, t.steps), dtype=DT)


class MFBOPolicy(GPPolicy):
    """Multi-fidelity BO that decides *what* at the target and *where* by cost.

    Two rules (``rule``):

    - ``target_ei`` (default): the mixture ``w*`` maximises the EI of the target-fidelity posterior
      (pending runs fantasised); the fidelity is then the cheapest affordable grid point (continuations
      of a shorter run of ``w*`` at the same scale cost only their extra steps) whose observation is
      still informative about ``w*``: posterior std at ``(w*, f)`` at least
      ``threshold * sqrt(cost(f))`` times the target's posterior std at ``w*``, and correlation with the target value at least ``min_corr``;
      the target itself when none is. Cheap fidelities are used while they are uncertain near the
      promising mixtures, never to exhaustion (the MF-GP-UCB / BOCA idea of Kandasamy et al.).
    - ``aei``: the target-projected augmented EI divided by ``cost^cost_exponent`` over the grid, with
      continuations. Kept for comparison: with near-noiseless simulators it over-samples the cheapest
      fidelity (its noise factor never vanishes), see the issue-4 note.

    When ``w*`` has nothing left to run (measured at every fidelity, or nothing affordable), a ball of
    radius 0.05 around it is excluded from the EI search (a local penalty in the spirit of González et
    al. 2016, made hard because log-EI spans hundreds of nats) and the next-best mixture is taken; after
    3 such mixtures the policy stops.

    Args:
        rule: ``target_ei`` | ``aei``.
        threshold: the ``target_ei`` uncertainty threshold (larger = more target runs).
        min_corr: the ``target_ei`` minimum posterior correlation between ``(w*, f)`` and ``(w*, target)``.
        cost_exponent: ``aei`` acquisition = AEI / cost^cost_exponent.
        init_max_cost: initial runs go to grid fidelities costing at most this (target-run equivalents).
        continuation: also consider continuing earlier runs (only the extra steps cost).
        min_distance: a fidelity counts as measured at ``w`` when a run within this L1 distance of ``w``
            reached it (``target_ei``): mixtures that differ by less than this share of the data are not
            re-run at the same fidelity (stops endless cheap runs at near-identical mixtures).
        (others: see :class:`GPPolicy`)
    """

    name = "mfbo"
    tag = "mfbo"

    def __init__(self, rule: str = "target_ei", threshold: float = 1.0, min_corr: float = 0.3,
                 cost_exponent: float = 1.0, init_max_cost: float = 0.05, continuation: bool = True,
                 min_distance: float = 0.05, linear_mean: bool = True, **kw):
        super().__init__(linear_mean=linear_mean, **kw)
        if rule not in ("target_ei", "aei"):
            raise BomixError(f"mfbo: unknown rule {rule!r}: use target_ei or aei")
        self.rule = rule
        self.threshold, self.min_corr = float(threshold), float(min_corr)
        self.cost_exponent = float(cost_exponent)
        self.init_max_cost = float(init_max_cost)
        self.continuation = bool(continuation)
        if not 0.0 <= float(min_distance) < 2.0:
            raise BomixError(f"mfbo: min_distance must be in [0, 2) (an L1 distance on the simplex), got {min_distance}")
        self.min_distance = float(min_distance)
        self.max_blocked, self.block_radius = 3, 0.05

    def init_fidelities(self) -> list[Fidelity]:
        grid = self.space.fidelity_grid()
        cheap = [f for f in grid if self.problem.cost.of(f) <= self.init_max_cost]
        return cheap or [min(grid, key=self.problem.cost.of)]

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        if self.rule == "target_ei":
            return self._one_target_ei(model, history, obs, rng, budget_left, pending)
        grid = self.space.fidelity_grid()
        best = self._incumbent(model, obs)
        noise = noise_variance(base)
        log_costs = torch.tensor(np.log([self.problem.cost.of(f) for f in grid]), dtype=DT)

        def acq(W: torch.Tensor, gidx: np.ndarray) -> torch.Tensor:
            """``W`` (b x K) at grid fidelities ``gidx`` (b,) -> (b,) log AEI - exponent * log cost."""
            Xt = self._x(W, self.space.target)
            return log_target_aei(model, self._grid_x(W, gidx), Xt, best, noise) - self.cost_exponent * log_costs[
                torch.as_tensor(gidx)]

        options = self._choose(acq, history, obs, rng, budget_left)
        options += self._continuations(acq, grid, history, budget_left, pending)
        if not options:
            return None
        return max(options, key=lambda o: o[1])[0]

    def _one_target_ei(self, model, history, obs, rng, budget_left, pending) -> RunSpec | None:
        t = self.space.target
        best = self._incumbent(model, obs)

        def acq(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            post = model.posterior(self._x(W, t).unsqueeze(-2))
            mean = post.mean.squeeze(-1).squeeze(-1)
            return log_ei(mean, post.variance.squeeze(-1).squeeze(-1).clamp_min(1e-12).sqrt(), best)

        if self.problem.candidates is not None:  # pool: score every pool point at the target, then its fidelities
            options = self._pool_options(lambda W, g: acq(W, g), self.space.fidelity_grid(),
                                         np.arange(len(self.space.fidelity_grid())), history)
            if not options:
                return None
            w = max(options, key=lambda o: o[1])[0].mixture.weights
            return self._cheapest_informative(model, w, history, budget_left, pending)[0]
        extra = np.unique(obs.w, axis=0) if len(obs) else None
        blocked: list[np.ndarray] = []
        for _ in range(self.max_blocked + 1):
            # a mixture with nothing left to run (every fidelity observed, or none affordable) is blocked:
            # a barrier excludes the block_radius ball around it (see _penalised), so the next-best
            # mixture is chosen instead of repeating a finished one
            pen = acq if not blocked else partial(_penalised, acq, torch.tensor(np.array(blocked), dtype=DT),
                                                  self.block_radius)
            w, _, val = maximize(pen, self.space, [t], rng, self.opt_cfg, extra=extra)
            best_spec, cost = self._cheapest_informative(model, w, history, budget_left, pending)
            if best_spec is not None:
                break
            blocked.append(w)
        else:
            log.info("mfbo: the %d best target-EI mixtures have nothing affordable left to run: stopping",
                     len(blocked))
            return None
        score = val - np.log(max(cost, 1e-12))
        # continuing a promising earlier run may buy more per unit cost than a fresh one
        for wc in self._continuable(history, pending):
            with torch.no_grad():
                v = float(acq(torch.tensor(wc[None], dtype=DT), np.zeros(1, dtype=int))[0])
            spec, c = self._cheapest_informative(model, wc, history, budget_left, pending)
            if spec is not None and spec.resume_from and v - np.log(max(c, 1e-12)) > score:
                best_spec, score = spec, v - np.log(max(c, 1e-12))
        return best_spec

    def _continuable(self, history: History, pending: list[RunSpec]) -> list[np.ndarray]:
        """Mixtures of ok runs that a longer run could continue (not already being continued)."""
        if not (self.continuation and self.problem.supports_continuation):
            return []
        busy = {s.resume_from for s in pending if s.resume_from}
        top = max(self.space.step_grid)
        seen: dict[bytes, np.ndarray] = {}
        for r in history.ok:
            if r.spec.steps < top and r.spec.run_id not in busy:
                seen.setdefault(r.spec.mixture.weights.tobytes(), r.spec.mixture.weights)
        return list(seen.values())

    def _fidelity_costs(self, w: np.ndarray, history: History, pending: list[RunSpec]):
        """``[(fid, cost, resume_spec | None)]`` for each grid fidelity at mixture ``w``."""
        busy = {s.resume_from for s in pending if s.resume_from}
        resume = self.continuation and self.problem.supports_continuation
        longest: dict[str, RunSpec] = {}  # the longest run of exactly w per scale (continuable)
        near: dict[str, int] = {}  # the most steps observed per scale within min_distance of w
        for r in history.ok:
            sp = r.spec
            d = float(np.abs(sp.mixture.weights - w).sum())
            if d <= max(self.min_distance, 1e-12):
                near[sp.scale] = max(near.get(sp.scale, 0), sp.steps)
            if d > 1e-12:
                continue
            if sp.scale not in longest or sp.steps > longest[sp.scale].steps:
                longest[sp.scale] = sp
        out = []
        for f in self.space.fidelity_grid():
            prev = longest.get(f.scale)
            if near.get(f.scale, 0) >= f.steps:
                continue  # already observed there, or at a mixture within min_distance (its curve holds this step)
            if prev is not None and resume and prev.run_id not in busy:
                out.append((f, self.problem.cost(f.scale, f.steps, prev.steps), prev))
            else:
                out.append((f, self.problem.cost.of(f), None))
        return out

    def _cheapest_informative(self, model, w: np.ndarray, history: History, budget_left: float,
                              pending: list[RunSpec]) -> tuple[RunSpec | None, float]:
        """``(spec, cost)``: the cheapest affordable fidelity still informative at ``w`` (else the target)."""
        t = self.space.target
        opts = [o for o in self._fidelity_costs(w, history, pending) if o[1] <= budget_left + 1e-12]
        if self.problem.candidates is not None:
            pool = {f: self._pool(f) for f, _, _ in opts}
            opts = [o for o in opts if len(pool[o[0]]) and np.isclose(pool[o[0]], w, atol=1e-9).all(1).any()]
        if not opts:
            return None, 0.0
        W = torch.tensor(w[None], dtype=DT)
        X = torch.cat([torch.stack([self._x(W[:1], o[0])[0] for o in opts]), self._x(W[:1], t)])  # (m+1) x d
        with torch.no_grad():
            cov = model.posterior(X).mvn.covariance_matrix
        var = cov.diagonal().clamp_min(1e-18)
        sd, corr = var[:-1].sqrt(), cov[:-1, -1] / (var[:-1] * var[-1]).sqrt()
        sd_target = float(var[-1].sqrt())
        order = sorted(range(len(opts)), key=lambda i: opts[i][1])
        pick = None
        for i in order:
            f, c, _ = opts[i]
            if f == t or (sd[i] >= self.threshold * np.sqrt(c) * sd_target and corr[i] >= self.min_corr):
                pick = i
                break
        if pick is None:  # the target is not affordable: the most informative of what is
            pick = int(torch.argmax(sd * corr.clamp_min(0.0)))
        f, cost, prev = opts[pick]
        if prev is not None:
            return RunSpec(prev.mixture, f.scale, f.steps, resume_from=prev.run_id, resume_step=prev.steps,
                           tag="mfbo-continue"), cost
        return RunSpec(Mixture(w, self.space.domains), f.scale, f.steps, tag=self.tag), cost

    def _continuations(self, acq: Acq, grid: list[Fidelity], history: History, budget_left: float,
                       pending: list[RunSpec]):
        """Continue an ok run of (w, scale) from its last step to a larger grid step: only extra steps cost."""
        if not (self.continuation and self.problem.supports_continuation):
            return []
        busy = {s.resume_from for s in pending if s.resume_from}
        longer = {(s.mixture, s.scale) for s in pending}
        longest: dict[tuple, RunSpec] = {}
        for r in history.ok:
            key = (r.spec.mixture, r.spec.scale)
            if key not in longest or r.spec.steps > longest[key].steps:
                longest[key] = r.spec
        out = []
        for key, spec in longest.items():
            if spec.run_id in busy or key in longer:
                continue
            for steps in self.space.step_grid:
                fid = Fidelity(spec.scale, steps)
                if steps <= spec.steps or fid not in grid:
                    continue
                extra = self.problem.cost(spec.scale, steps, spec.steps)
                if extra > budget_left + 1e-12 or extra <= 0:
                    continue
                with torch.no_grad():
                    base = float(acq(torch.tensor(spec.mixture.weights[None], dtype=DT),
                                     np.array([grid.index(fid)]))[0])
                val = base + self.cost_exponent * (np.log(self.problem.cost.of(fid)) - np.log(extra))
                out.append((RunSpec(spec.mixture, spec.scale, steps, resume_from=spec.run_id,
                                    resume_step=spec.steps, tag="mfbo-continue"), val))
        return out


class SFBOPolicy(GPPolicy):
    """Single-fidelity BO: qLogNEI over mixtures at the target fidelity only, pending runs as ``X_pending``.

    Args:
        mc_samples: quasi-MC samples of qLogNEI. (others: see :class:`GPPolicy`; ``n_init`` target runs.)
    """

    name = "sfbo"
    tag = "sfbo"
    multi_fidelity = False

    def __init__(self, n_init: int = 3, mc_samples: int = 128, **kw):
        super().__init__(n_init=n_init, **kw)
        self.mc_samples = int(mc_samples)

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        t = self.space.target
        Xp = (torch.tensor(np.vstack([self.encode(s.mixture.weights, s.scale, s.steps) for s in pending]), dtype=DT)
              if pending else None)
        acqf = qLogNoisyExpectedImprovement(
            base, X_baseline=base.train_inputs[0], X_pending=Xp,
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=int(rng.integers(2**31))))

        def acq(W: torch.Tensor, gidx: np.ndarray) -> torch.Tensor:
            return acqf(self._x(W, t).unsqueeze(-2))

        options = self._choose(acq, history, obs, rng, budget_left, fids=[t])
        return options[0][0] if options else None


class MFMSEIPolicy(GPPolicy):
    """The MFMS paper's rule (Yen et al. 2025, namkoong-lab/data-recipes), as in its code.

    ``n_init`` (20) random Dirichlet(1) runs at random grid fidelities, their partial curves observed
    (checkpoints subsampled); a GP with a product of ARD RBF kernels, a linear mean and a FIXED noise
    variance (0.1 on the raw loss, no standardisation), hyperparameters fitted once on the initial runs
    and then frozen; acquisition = EI at the proposed fidelity (incumbent = best value observed at ANY
    fidelity) divided by ``cost^(cost_exponent * anneal^i)`` (``i`` = BO iteration) over the grid of
    ``space.scale_names x space.step_grid``; mixtures by softmax over logits in ``[-3, 3]^K``,
    L-BFGS-B with ``restarts`` restarts. The paper's ``[w, m/100, z/197]`` inputs become the space's
    ``[w, s, t]`` coordinates.
    """

    name = "mfms_ei"
    tag = "mfms_ei"

    def __init__(self, n_init: int = 20, anneal: float = 0.99, cost_exponent: float = 1.0, noise: float = 0.1,
                 restarts: int = 5, raw_samples: int = 128, max_per_run: int = 8, maxiter: int = 75, **kw):
        super().__init__(n_init=n_init, max_per_run=max_per_run, raw_samples=raw_samples, maxiter=maxiter, **kw)
        self.gp_cfg = GPConfig(kernel="product", matern_nu=None, fixed_noise=float(noise), linear_mean=True,
                               maxiter=int(maxiter))
        self.anneal, self.cost_exponent, self.restarts = float(anneal), float(cost_exponent), int(restarts)

    def init_fidelities(self) -> list[Fidelity]:
        return self.space.fidelity_grid()

    def fit(self, X, Y, history):
        warm = self._warm(history)
        return fit_gp(X, Y, self.gp_cfg, warm=warm, frozen=warm is not None)

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        grid = self.space.fidelity_grid()
        gidx = np.array([i for i, f in enumerate(grid) if self.problem.cost.of(f) <= budget_left + 1e-12], dtype=int)
        if not len(gidx):
            return None
        i = sum(1 for s in history.all_specs() if s.tag == self.tag) + sum(1 for s in pending if s.run_id is None)
        exponent = self.cost_exponent * self.anneal ** i
        best = float((-obs.y).max())
        log_costs = torch.tensor(np.log([self.problem.cost.of(f) for f in grid]), dtype=DT)

        def acq(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            gg = gidx[g]
            return log_cost_ei(model, self._grid_x(W, gg), best, log_costs[torch.as_tensor(gg)], exponent)

        if self.problem.candidates is not None:
            options = self._pool_options(lambda W, g: acq(W, np.searchsorted(gidx, g)), grid, gidx, history)
            return max(options, key=lambda o: o[1])[0] if options else None
        w, gi, _ = maximize_logits(acq, self.space, [grid[j] for j in gidx], rng, restarts=self.restarts,
                                   raw_samples=self.opt_cfg.raw_samples)
        f = grid[gidx[gi]]
        return RunSpec(Mixture(w, self.space.domains), f.scale, f.steps, tag=self.tag)


class MFKGPolicy(GPPolicy):
    """Multi-fidelity knowledge gradient per unit cost, on a discrete target set.

    ``KG(x, f) = E[max_{x' in D} mu_new(x', target)] - max_{x' in D} mu(x', target)``, with ``mu_new`` the
    posterior after a fantasised observation at ``(x, f)`` (``num_fantasies`` quasi-MC fantasies), ``D``
    the target set (observed mixtures, vertices, random draws, and ``x`` projected to the target with
    ``project_to_target_fidelity(..., d=K + 2)``), divided by cost (``InverseCostWeightedUtility``).
    Candidates are scored, not gradient-refined (the one-shot qMFKG over the simplex is too slow on 2 cores).
    """

    name = "mfkg"
    tag = "mfkg"

    def __init__(self, num_fantasies: int = 8, target_set: int = 64, chunk: int = 64, raw_samples: int = 48,
                 max_obs: int = 200, **kw):
        super().__init__(raw_samples=raw_samples, max_obs=max_obs, **kw)
        self.num_fantasies, self.target_set_n, self.chunk = int(num_fantasies), int(target_set), int(chunk)

    def init_fidelities(self) -> list[Fidelity]:
        grid = self.space.fidelity_grid()
        return sorted(grid, key=self.problem.cost.of)[: max(1, len(grid) // 3)]

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        d = self.space.dim
        D = self._target_set(model, obs, rng, self.target_set_n)
        with torch.no_grad():
            current = model.posterior(D).mean.squeeze(-1).max()
        utility = inverse_cost_utility(self.space, self.problem.cost)
        project = partial(project_to_target_fidelity, target_fidelities={d - 2: 1.0, d - 1: 1.0}, d=d)
        sampler = SobolQMCNormalSampler(torch.Size([self.num_fantasies]), seed=int(rng.integers(2**31)))

        def acq(W: torch.Tensor, gidx: np.ndarray) -> torch.Tensor:
            out = []
            for a in range(0, W.shape[0], self.chunk):
                X = self._grid_x(W[a:a + self.chunk], gidx[a:a + self.chunk]).unsqueeze(-2)  # b x 1 x d
                with torch.no_grad():
                    fm = model.fantasize(X, sampler)  # batch: nf x b
                    best_d = fm.posterior(D).mean.squeeze(-1).max(-1).values  # nf x b
                    own = fm.posterior(project(X)).mean.squeeze(-1).squeeze(-1)  # nf x b
                delta = (torch.maximum(best_d, own) - current).mean(0).clamp_min(0.0)  # b
                out.append(utility(X, delta.unsqueeze(0)).squeeze(0))
            v = torch.cat(out)
            return torch.log(v.clamp_min(1e-300))

        cfg = OptimizerConfig(raw_samples=self.opt_cfg.raw_samples, starts=1, iters=0)
        options = self._choose(acq, history, obs, rng, budget_left, cfg=cfg)
        return options[0][0] if options else None


class MFMESPolicy(GPPolicy):
    """Multi-fidelity max-value entropy search (GIBBON lower bound) per unit cost, BoTorch's implementation.

    Args:
        candidate_set: target-fidelity points used to sample the max value.
        num_mv_samples: max-value samples. (others: see :class:`GPPolicy`)
    """

    name = "mfmes"
    tag = "mfmes"

    def __init__(self, candidate_set: int = 256, num_mv_samples: int = 10, raw_samples: int = 64, iters: int = 10,
                 max_obs: int = 200, **kw):
        super().__init__(raw_samples=raw_samples, iters=iters, max_obs=max_obs, **kw)
        self.candidate_set_n, self.num_mv_samples = int(candidate_set), int(num_mv_samples)

    def init_fidelities(self) -> list[Fidelity]:
        grid = self.space.fidelity_grid()
        return sorted(grid, key=self.problem.cost.of)[: max(1, len(grid) // 3)]

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        d = self.space.dim
        torch.manual_seed(int(rng.integers(2**31)))  # max-value sampling draws from torch's global stream
        Xp = (torch.tensor(np.vstack([self.encode(s.mixture.weights, s.scale, s.steps) for s in pending]), dtype=DT)
              if pending else None)
        acqf = qMultiFidelityLowerBoundMaxValueEntropy(
            base, candidate_set=self._target_set(model, obs, rng, self.candidate_set_n),
            num_mv_samples=self.num_mv_samples, X_pending=Xp,
            cost_aware_utility=inverse_cost_utility(self.space, self.problem.cost),
            project=partial(project_to_target_fidelity, target_fidelities={d - 2: 1.0, d - 1: 1.0}, d=d))

        def acq(W: torch.Tensor, gidx: np.ndarray) -> torch.Tensor:
            v = acqf(self._grid_x(W, gidx).unsqueeze(-2))
            return torch.log(v.clamp_min(1e-300))

        options = self._choose(acq, history, obs, rng, budget_left)
        return options[0][0] if options else None


def _penalised(acq: Acq, blocked: torch.Tensor, radius: float, W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
    """``acq(W, g)`` minus a barrier inside ``radius`` of the nearest blocked mixture (log-penalty plus
    ``1e4 * (1 - d / radius)``): ``W`` (b x K), ``blocked`` (m x K) -> (b,)."""
    d = torch.cdist(W, blocked).min(dim=-1).values
    return acq(W, g) + torch.log((d / radius).clamp(1e-9, 1.0)) - 1e4 * (1.0 - d / radius).clamp_min(0.0)


def _dedupe(obs: Observations) -> Observations:
    """Keep one observation per (mixture, scale, step): continued runs repeat their parent's checkpoints."""
    seen: dict[tuple, int] = {}
    for i in range(len(obs)):
        seen[(obs.w[i].tobytes(), obs.scales[i], int(obs.steps[i]))] = i
    keep = np.zeros(len(obs), dtype=bool)
    keep[list(seen.values())] = True
    return obs.select(keep)
