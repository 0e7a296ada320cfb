"""The GP policies' recommendation and prediction at the target: the argmax over target mixtures of the posterior
mean - ``rec_kappa`` * sd (kept within the evidence radius with ``rec_evidence``, replaced by a hedge with
``rec_topk`` / ``rec_centre`` / ``rec_robust``, moved towards the design's prior with ``rec_shrink``), from the settled
history, with the hyperparameters of the latest decision.

:class:`TargetRecommender` is mixed into :class:`bomix.policies.bo.base.GPPolicy`; it reads the policy's model
(``self.model(history, refit=False)``), space, problem, seed and ``rec_*`` options. A recommendation is a function of
the history and the seed: its random streams are salted with :data:`SALT_REC`.
"""

from __future__ import annotations

import logging

import gpytorch
import numpy as np
import torch

from bomix.acquisition.analytic import pointwise
from bomix.acquisition.fixed import AcqFn
from bomix.acquisition.optimize import maximize
from bomix.errors import BomixError
from bomix.history import History, Observations
from bomix.laws.regmix import design_prior
from bomix.policies.bo import evidence
from bomix.policies.bo.shrink import shrink, shrink_rule
from bomix.space import Mixture
from bomix.surrogate.level import extrapolate, level_points
from bomix.surrogate.numerics import NUMERICAL_ERRORS, seeded_torch

log = logging.getLogger("bomix.policies.bo")
DT = torch.double
#: Salt of the recommendation's random streams (numpy and torch); differs from the decisions' salts in ``base``.
SALT_REC = 99
#: Recommendation = argmax over target mixtures of posterior mean - kappa * sd (of -loss): conservative.
REC_KAPPA = 1.0
#: ``rec_topk``: Dirichlet(design prior) draws ranked by the posterior mean at the target (RegMix ranks 100k), ...
REC_TOPK_SAMPLES = 100_000
#: ... scored this many at a time (a joint posterior: GPyTorch evaluates the chunk's own kernel even for the mean;
#: a q-batch of single points would evaluate the training inputs' kernel once per point)
TOPK_CHUNK = 256
#: ``rec_centre`` / ``rec_robust``: Dirichlet(design prior) candidates beside the argmax, ...
REC_CENTRE_CANDIDATES = 3000
#: ... and joint posterior draws over them
REC_CENTRE_DRAWS = 2000


class TargetRecommender:
    """Recommendation and prediction at the target fidelity, from the policy's GP (a mixin of ``GPPolicy``)."""

    def set_rule(self, rec_kappa: float, rec_evidence: float | None, rec_shrink: float | str | None,
                 rec_topk: int | None, rec_centre: bool, rec_robust: float | None) -> None:
        """Check and keep the recommendation rule's options (``GPPolicy``'s ``rec_*`` arguments)."""
        if float(rec_kappa) < 0:
            raise BomixError(f"{self.name}: rec_kappa must be >= 0, got {rec_kappa}")
        self.rec_kappa = float(rec_kappa)
        if rec_evidence is not None and not 0.0 < float(rec_evidence) <= 1.0:
            raise BomixError(f"{self.name}: rec_evidence must be in (0, 1] (a quantile) or null, got {rec_evidence}")
        self.rec_evidence = None if rec_evidence is None else float(rec_evidence)
        self.rec_shrink = shrink_rule(self.name, rec_shrink)
        if rec_topk is not None and int(rec_topk) < 1:
            raise BomixError(f"{self.name}: rec_topk must be a number of mixtures >= 1 or null, got {rec_topk}")
        self.rec_topk = None if rec_topk is None else int(rec_topk)
        if not isinstance(rec_centre, bool):
            raise BomixError(f"{self.name}: rec_centre must be true or false, got {rec_centre!r}")
        self.rec_centre = rec_centre
        if rec_robust is not None and not 0.0 < float(rec_robust) < 1.0:
            raise BomixError(f"{self.name}: rec_robust must be a quantile in (0, 1) or null, got {rec_robust}")
        self.rec_robust = None if rec_robust is None else float(rec_robust)
        replacing = [k for k in self.hedges() if k != "rec_shrink"]  # rec_shrink moves whichever point they give
        if len(replacing) > 1:
            raise BomixError(f"{self.name}: {' and '.join(replacing)} are recommendation rules: set one of them")

    def hedges(self) -> list[str]:
        """The names of the rules set that replace or move the argmax (``rec_shrink``, ``rec_topk``, ...)."""
        rules = {"rec_shrink": self.rec_shrink, "rec_topk": self.rec_topk, "rec_centre": self.rec_centre or None,
                 "rec_robust": self.rec_robust}
        return [k for k, v in rules.items() if v is not None]

    def recommend(self, history: History) -> Mixture:
        history = self._settled(history)
        cache = self._cached(history)
        if "mixture" not in cache:  # the campaign asks after every run; the answer is a function of the settled
            cache["mixture"] = self._recommend_settled(history)  # history, which changes only at doublings early on
        return cache["mixture"]

    def _cached(self, history: History) -> dict:
        """The cache of the settled ``history``'s recommendation (``"mixture"``) and predictions (``"pred"``, by
        mixture), emptied when the history changes."""
        key = tuple(r.spec.run_id for r in history.results)
        if self._rec_cache.get("key") != key:
            self._rec_cache = {"key": key, "pred": {}}
        return self._rec_cache

    def _recommend_settled(self, history: History) -> Mixture:
        self.recommendation_fallback = False  # (Policy.recommendation_fallback: stored with the recommendation)
        with seeded_torch(self.seed, len(history.results), SALT_REC):
            try:
                return self._recommend(history)
            except NUMERICAL_ERRORS as exc:
                log.warning("%s: recommendation failed numerically (%s); using the best observation",
                            self.name, str(exc).splitlines()[0][:200])
                self._fallback(f"recommendation failed ({type(exc).__name__})")
                self.recommendation_fallback = True
                return self._best_observed(history)

    def _settled(self, history: History) -> History:
        """The history a recommendation is computed from: all of it, except during the initial design, where
        only the first ``2^j`` finished runs count (a fit per doubling instead of per run; still a pure
        function of the history)."""
        n = len(history.results)
        if n < 2 or n >= self.n_initial(history) or any(r.spec.tag != "init" for r in history.results):
            return history
        m = 1 << (n.bit_length() - 1)
        return History(history.space, history.objective, history.results[:m], [], history.budget, history.spent,
                       reused=history.reused)

    def predict(self, history: History, mixture: Mixture) -> tuple[float, float] | None:
        """Posterior mean and sd of the target objective (loss) at ``mixture``; None before a model exists. Cached
        per settled history, like :meth:`recommend` (the campaign predicts its recommendation after every run; during
        the initial design the extrapolation to the target costs more than the recommendation)."""
        history = self._settled(history)
        cached = self._cached(history)["pred"]
        wkey = np.asarray(mixture.weights, dtype=float).tobytes()
        if wkey in cached:
            return cached[wkey]
        with seeded_torch(self.seed, len(history.results), SALT_REC):
            try:
                model, obs = self.model(history, refit=False)
                if model is None:
                    return None
                out = self._predict(model, obs, mixture.weights)
            except NUMERICAL_ERRORS:
                self._fallback("prediction failed")
                return None
        cached[wkey] = out
        return out

    def _predict(self, model, obs: Observations, w: np.ndarray) -> tuple[float, float]:
        """``(mean, sd)`` of the target objective at ``w (K,)``: the GP's posterior once a run reached the target
        fidelity (the level is then data), before that the GP's values of ``w`` at every fidelity run so far
        extrapolated to the target by a scaling law (:mod:`bomix.surrogate.level`)."""
        t = self.space.target
        if np.any((obs.scales == t.scale) & (obs.steps == t.steps)):
            with torch.no_grad():
                post = model.posterior(self.at_target(torch.tensor(w[None], dtype=DT)))
            return -float(post.mean.squeeze()), float(post.variance.clamp_min(0).sqrt().squeeze())
        st = level_points(obs.X(self.space)[:, -2:])
        X = torch.cat([torch.tensor(np.repeat(w[None], len(st), 0), dtype=DT), torch.tensor(st, dtype=DT)], -1)
        with torch.no_grad():
            post = model.posterior(X)
        y, var = -post.mean.squeeze(-1).numpy(), post.variance.squeeze(-1).clamp_min(0).numpy()
        return extrapolate(st, y, var, self.space.fidelity_coords([t])[0], self.space.log_ratios(),
                           spread=float(np.std(obs.y)))

    def _best_observed(self, history: History) -> Mixture:
        """Best observed mixture at the target fidelity, else the final value of any run, else the centre."""
        tgt = history.at_fidelity(self.space.target)
        if len(tgt):
            return Mixture(tgt.w[int(np.argmin(tgt.y))], self.space.domains)
        every = history.observations(checkpoints=False)
        return Mixture(every.w[int(np.argmin(every.y))], self.space.domains) if len(every) else self.space.center()

    def _recommend(self, history: History) -> Mixture:
        """argmax over target mixtures of :meth:`_rec_score` (default: posterior mean - ``rec_kappa`` * sd; pool: among
        the pool's points), or with ``rec_topk`` the top-k mean of prior draws (:meth:`_topk_target`); then the
        ``rec_shrink`` hedge."""
        model, obs = self.model(history, refit=False)
        if model is None:
            return self._best_observed(history)
        mix = None
        if self.rec_topk is not None and not self.problem.proposals.is_pool:
            mix = self._topk_target(model, history, obs)
        if mix is None:
            mix = self._argmax_target(self._rec_score(model, obs), history, obs)
        if self.rec_centre and not self.problem.proposals.is_pool:
            mix = self._centre_target(model, history, obs, mix)
        if self.rec_robust is not None and not self.problem.proposals.is_pool:
            mix = self._robust_target(model, history, obs, mix)
        return self._shrunk_towards_prior(model, mix)

    def _centre_target(self, model, history: History, obs: Observations, argmax: Mixture) -> Mixture:
        """``rec_centre``: :func:`expected_best` over the argmax and :data:`REC_CENTRE_CANDIDATES` Dirichlet(design
        prior) mixtures at the target (within the evidence radius with ``rec_evidence``), seeded by the history,
        projected onto the target's bounds. One joint posterior of ~3000 points and its Cholesky: 2.7 s per
        recommendation against the argmax's 0.7 s on the demo's final history (540 observations, 2 threads)."""
        t = self.space.target
        rng = np.random.default_rng([self.seed, len(history.results), SALT_REC, 2])
        C = np.vstack([argmax.weights[None], self._prior_draws(rng, REC_CENTRE_CANDIDATES, obs)])
        mean, cov = self._joint_target(model, C)
        w = expected_best(mean, cov, C, REC_CENTRE_DRAWS, int(rng.integers(2 ** 31)))
        return Mixture(self.space.project(w, t)[0], self.space.domains)

    def _robust_target(self, model, history: History, obs: Observations, argmax: Mixture) -> Mixture:
        """``rec_robust``: :func:`robust_best` (the smallest ``rec_robust``-quantile of posterior regret) among the
        argmax, :data:`REC_CENTRE_CANDIDATES` Dirichlet(design prior) mixtures and the observed mixtures, all at the
        target (seeded by the history): ``rec_centre``'s joint posterior, plus the runs' mixtures."""
        t = self.space.target
        rng = np.random.default_rng([self.seed, len(history.results), SALT_REC, 3])
        C = np.vstack([argmax.weights[None], self._prior_draws(rng, REC_CENTRE_CANDIDATES, obs),
                       self.space.project(np.unique(obs.w, axis=0), t)])
        mean, cov = self._joint_target(model, C)
        i = robust_best(joint_draws(mean, cov, REC_CENTRE_DRAWS, int(rng.integers(2 ** 31))), self.rec_robust)
        return Mixture(self.space.project(C[i], t)[0], self.space.domains)

    def _joint_target(self, model, C: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Joint posterior mean ``(n,)`` and covariance ``(n, n)`` (of ``-loss``) at the mixtures ``C (n, K)`` at
        the target."""
        with torch.no_grad():
            post = model.posterior(self.at_target(torch.tensor(C, dtype=DT)))
            return post.mean.reshape(-1), post.distribution.covariance_matrix

    def _prior_draws(self, rng: np.random.Generator, n: int, obs: Observations) -> np.ndarray:
        """``(m, K)``, ``m <= n``: Dirichlet(design prior) target mixtures, projected onto the target's bounds; with
        ``rec_evidence``, only those within the evidence radius of the observed mixtures (possibly none)."""
        alpha = np.maximum(design_prior(self.space.tokens, self.space.k), 1e-3)
        W = self.space.project(rng.dirichlet(alpha, size=n), self.space.target)
        if self.rec_evidence is not None:
            W = W[evidence.inside(W, obs.w, evidence.evidence_radius(obs.w, self.rec_evidence))]
        return W

    def _topk_target(self, model, history: History, obs: Observations) -> Mixture | None:
        """RegMix's rule on the GP: the mean of the ``rec_topk`` best by posterior mean (of ``-loss``) at the target
        of :data:`REC_TOPK_SAMPLES` Dirichlet(design prior) mixtures (seeded by the history; within the evidence
        radius with ``rec_evidence``; None when no draw is: then the argmax), projected onto the target's bounds. Means
        only, in joint chunks: about 12 s on 2 cores at 2000 observations, too slow for a default that recommends
        after every run."""
        t = self.space.target
        W = self._prior_draws(np.random.default_rng([self.seed, len(history.results), SALT_REC, 1]), REC_TOPK_SAMPLES,
                              obs)
        if not len(W):
            return None
        v = np.empty(len(W))
        with torch.no_grad(), gpytorch.settings.skip_posterior_variances(True):
            for i in range(0, len(W), TOPK_CHUNK):
                X = self.at_target(torch.tensor(W[i:i + TOPK_CHUNK], dtype=DT))  # b x (K + 2)
                v[i:i + TOPK_CHUNK] = model.posterior(X).mean.reshape(-1).numpy()
        top = np.argsort(-v, kind="stable")[: min(self.rec_topk, len(W))]
        return Mixture(self.space.project(W[top].mean(0), t)[0], self.space.domains)

    def _shrunk_towards_prior(self, model, mix: Mixture) -> Mixture:
        """With ``rec_shrink``: ``mix`` moved towards the design's prior mixture as far as the posterior allows
        (:func:`bomix.policies.bo.shrink.shrink`); unchanged without it and on pools."""
        t = self.space.target
        if self.rec_shrink is None or self.problem.proposals.is_pool:
            return mix
        prior = self.space.project(design_prior(self.space.tokens, self.space.k), t)[0]
        s = shrink(model, self.at_target, prior, mix.weights, self.rec_shrink, seed=self.seed)
        self._shrunk = {"z": self.rec_shrink, **s.info()}
        return Mixture(s.weights, self.space.domains)

    def _argmax_target(self, score: AcqFn, history: History, obs: Observations) -> Mixture:
        """The target mixture maximising ``score`` (``acq(W, g)``, ``g`` ignored; kept within the evidence radius
        with ``rec_evidence``): among the pool's points on a pool, else by :func:`maximize` from raw candidates
        plus the observed mixtures (seeded by the history)."""
        t = self.space.target
        if self.rec_evidence is not None:
            score = evidence.within(score, obs.w, evidence.evidence_radius(obs.w, self.rec_evidence))
        pool = self.problem.proposals.pool(t)
        if pool is not None and len(pool):
            with torch.no_grad():
                v = score(torch.tensor(pool, dtype=DT), np.zeros(len(pool), dtype=int)).numpy()
            return Mixture(pool[int(np.argmax(v))], self.space.domains)
        w, _, _ = maximize(score, self.space, [t], np.random.default_rng([self.seed, len(history.results), SALT_REC]),
                           self.opt_cfg, extra=np.unique(obs.w, axis=0))
        return Mixture(w, self.space.domains)

    def _rec_score(self, model, obs: Observations) -> AcqFn:
        """What the recommendation maximises over target mixtures (``acq(W, g)``, ``g`` ignored): posterior
        mean - ``rec_kappa`` * sd."""
        kappa = self.rec_kappa

        chunk = self.gp_cfg.posterior_chunk

        def lcb(W: torch.Tensor, g: np.ndarray) -> torch.Tensor:
            if chunk:
                mean, var = pointwise(model, self.at_target(W), chunk)
                return mean - kappa * var.clamp_min(1e-18).sqrt()
            post = model.posterior(self.at_target(W))
            return post.mean.squeeze(-1) - kappa * post.variance.squeeze(-1).clamp_min(1e-18).sqrt()

        return lcb


def expected_best(mean: torch.Tensor, cov: torch.Tensor, C: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """The posterior mean of the best candidate's position: ``E[C[argmax_i f_i]]`` over ``draws`` joint draws of ``f ~
    N(mean (n,), cov (n, n))`` (a maximised objective) at the candidates ``C (n, K)``; ``(K,)``. With a certain posterior
    it is the best candidate; with an uncertain one, the centre of the candidates likely to be best (the position that
    minimises the expected squared distance to the best one)."""
    best = joint_draws(mean, cov, draws, seed).argmax(dim=1).numpy()
    return np.asarray(C)[best].mean(axis=0)


def joint_draws(mean: torch.Tensor, cov: torch.Tensor, draws: int, seed: int) -> torch.Tensor:
    """``(draws, n)`` joint draws of ``N(mean (n,), cov (n, n))`` (a relative jitter of 1e-9 on the diagonal)."""
    n = len(mean)
    jitter = 1e-9 * float(cov.diagonal().mean().clamp_min(1e-12))
    L = torch.linalg.cholesky(cov + jitter * torch.eye(n, dtype=cov.dtype))
    Z = torch.randn(draws, n, generator=torch.Generator().manual_seed(seed), dtype=cov.dtype)
    return mean[None] + Z @ L.T


def robust_best(F: torch.Tensor, q: float) -> int:
    """The candidate whose ``q``-quantile over draws of regret (the draw's best value minus the candidate's) is
    smallest, for joint draws ``F (draws, n)`` of a maximised objective; ties go to the lowest index. ``q`` = 0.9: the
    candidate that stays near the best under 90% of the shifts the posterior allows, where the argmax of the mean
    may be best on average yet far off under many of them."""
    R = (F.max(dim=1, keepdim=True).values - F).numpy()
    return int(np.argmin(np.quantile(R, q, axis=0)))
