"""A synthetic backend with a known optimum: our own ground truth over (mixture, scale, steps).

Per validation domain ``i`` (one per training domain) the loss follows a scaling law in an
*effective data* that mixes domains through a transfer matrix ``T`` (``T_ii = 1``):

    D_i   = tokens_per_step * sum_t sum_j T_ij w_j(t)                     (tokens seen, effective)
    b_i   = b0_i + g_i * s(N)                                               (data exponent grows with scale)
    L_i   = E_i + A_i (N / 1e6)^(-a_i) + B_i (D_i / 1e9 + floor)^(-b_i)

and ``loss:target`` = ``sum_i u_i L_i`` with a sparse ``u`` (the last domain is useless for the target,
so the target optimum sits on the simplex boundary). Because every domain has its own exponent that
changes with scale, the best mixture moves with both scale and steps. Observation noise is optional,
heteroskedastic (larger at corner mixtures) and correlated along a run's curve.

Order dependence is opt-in: with forgetting ``rho < 1`` (per step) ``D <- rho D + new tokens``, so a
static mixture's effective tokens after ``S`` steps are ``(1 - rho^S) / (1 - rho)`` steps' worth
(``rho = 1``: ``S``; then no schedule can beat the best static mixture). Static mixtures and
schedules stay closed form; a spec with an online ``controller`` is simulated step by step
(:mod:`bomix.backends.synthetic_steps`: batch sampling, batch noise, absent domains, reference
losses, gradient dots). ``law=`` overrides any law parameter by hand (tests).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from bomix.backends.base import MetricSimulator
from bomix.backends.synthetic_steps import simulate
from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.online import SignalCosts
from bomix.runs import Curve, MixtureSchedule, RunResult, RunSpec
from bomix.space import Mixture, Scale, Space

DEFAULT_SCALES = {"20M": 20e6, "60M": 60e6, "150M": 150e6, "300M": 300e6, "1B": 1e9}


class SyntheticBackend(MetricSimulator):
    """Cheap, seedable simulator (see module docstring for the law).

    Args:
        k: number of domains (named ``d0..d{k-1}`` unless ``domains`` is given).
        domains: optional domain names (overrides ``k``).
        scales: ladder name -> parameter count (default 20M..1B).
        min_steps / max_steps / eval_every: step range and evaluation interval.
        tokens_per_step: tokens per training step (batch x context).
        noise: observation noise sd (nats) at the uniform mixture; 0 = deterministic.
        hetero: extra relative noise at corner mixtures (sd x (1 + hetero) at a vertex).
        fail_prob: probability that a run fails (to test failure handling).
        delay: seconds each run sleeps (to test dispatch, parallelism and kills).
        seed: the problem instance (law parameters) and the noise stream.
        rho: forgetting per step (1 = none; see module docstring).
        batch_size: sequences per step of the step simulator (online runs).
        batch_noise: sd of one sequence's train loss around the law (online runs' batch noise).
        eval_noise: sd of a validation loss asked for by a controller.
        token_sd: token-level spread of the excess loss relative to the reducible loss (DoReMi's
            per-token clipping).
        grad_noise: relative noise of simulated gradient dots.
        lr: learning rate reported to controllers (gradient dots are scaled by it).
        eval_batch: validation sequences per domain per request (for the charged overhead).
        law: hand-set law parameters overriding the drawn ones: any of ``E, A, a, B, b0, g`` (K,),
            ``T`` (K, K), ``u`` (K,).
    """

    name = "synthetic"
    supports_schedule = True
    supports_continuation = True
    supports_controller = True
    supports_recipe = True

    def __init__(
        self,
        k: int = 5,
        domains: Sequence[str] | None = None,
        scales: Mapping[str, float] | None = None,
        min_steps: int = 500,
        max_steps: int = 20000,
        eval_every: int = 500,
        tokens_per_step: float = 2.0**19,
        noise: float = 0.0,
        hetero: float = 0.0,
        fail_prob: float = 0.0,
        delay: float = 0.0,
        seed: int = 0,
        rho: float = 1.0,
        batch_size: int = 256,
        batch_noise: float = 0.5,
        eval_noise: float = 0.01,
        token_sd: float = 0.5,
        grad_noise: float = 0.1,
        lr: float = 3e-3,
        eval_batch: int = 64,
        law: Mapping[str, Sequence] | None = None,
    ):
        domains = list(domains) if domains else [f"d{i}" for i in range(int(k))]
        k = len(domains)
        if k < 2:
            raise BomixError("the synthetic backend needs k >= 2 domains")
        if eval_every <= 0 or min_steps % eval_every or max_steps % eval_every:
            raise BomixError("min_steps and max_steps must be multiples of eval_every > 0")
        scales = dict(scales or DEFAULT_SCALES)
        self.space = Space(
            domains=domains,
            scales=[Scale(n, float(p)) for n, p in scales.items()],
            min_steps=min_steps,
            max_steps=max_steps,
            tokens_per_step=tokens_per_step,
        )
        self.eval_every = int(eval_every)
        self.noise, self.hetero, self.fail_prob = float(noise), float(hetero), float(fail_prob)
        self.seed, self.delay = int(seed), float(delay)
        self.cost_model = FlopsCost(self.space, tokens_per_step)
        self.metrics = tuple([f"loss:{d}" for d in domains] + ["loss:target"])
        self.default_objective = Objective.metric("loss:target")
        if not 0.0 < float(rho) <= 1.0:
            raise BomixError(f"rho (forgetting per step) must be in (0, 1], got {rho}")
        if batch_size < 1 or batch_noise < 0 or eval_noise < 0 or token_sd <= 0 or grad_noise < 0 or lr <= 0:
            raise BomixError("batch_size >= 1, noises >= 0, token_sd > 0 and lr > 0")
        for key, v, ok in (("noise", noise, "a finite number >= 0"), ("hetero", hetero, "a finite number >= 0"),
                           ("delay", delay, "a finite number of seconds >= 0"),
                           ("fail_prob", fail_prob, "a probability in [0, 1]")):
            x = float(v)
            if not (math.isfinite(x) and x >= 0 and (key != "fail_prob" or x <= 1)):
                raise BomixError(f"backend.{key} must be {ok}, got {v!r}: set backend.{key}=...")
        if int(eval_batch) < 1:
            raise BomixError(f"backend.eval_batch must be >= 1, got {eval_batch!r}")
        self.rho, self.batch_size = float(rho), int(batch_size)
        self.batch_noise, self.eval_noise, self.token_sd = float(batch_noise), float(eval_noise), float(token_sd)
        self.grad_noise, self.lr, self.eval_batch = float(grad_noise), float(lr), int(eval_batch)
        self._draw_law(np.random.default_rng([20250, self.seed]))
        if law:
            self._set_law(law)
        self._optima: dict[str, tuple[Mixture, float]] = {}
        self._recipes: dict[str, float] = {}

    # ----- the law ---------------------------------------------------------------------------
    def _draw_law(self, rng: np.random.Generator) -> None:
        k = self.space.k
        self.E = rng.uniform(1.5, 2.5, k)
        self.A = rng.uniform(2.0, 4.0, k)
        self.a = rng.uniform(0.25, 0.4, k)
        self.B = rng.uniform(0.6, 1.2, k)
        self.b0 = rng.uniform(0.15, 0.35, k)
        self.g = rng.uniform(-0.15, 0.2, k)
        T = rng.uniform(0.0, 0.35, (k, k)) * (rng.uniform(size=(k, k)) < 0.6)
        np.fill_diagonal(T, 1.0)
        T[:, -1] = np.where(np.arange(k) == k - 1, 1.0, 0.02)  # the last domain transfers little
        self.T = T
        u = rng.uniform(0.5, 1.5, k)
        u[-1] = 0.0
        self.u = u / u.sum()
        self.floor = 1e-3

    def _set_law(self, law: Mapping[str, Sequence]) -> None:
        k = self.space.k
        shapes = {"E": (k,), "A": (k,), "a": (k,), "B": (k,), "b0": (k,), "g": (k,), "T": (k, k), "u": (k,)}
        for key, val in law.items():
            if key not in shapes:
                raise BomixError(f"unknown law parameter {key!r}: choose from {sorted(shapes)}")
            arr = np.asarray(val, dtype=float)
            if arr.shape != shapes[key] or not np.all(np.isfinite(arr)):
                raise BomixError(f"law parameter {key} must be finite with shape {shapes[key]}, got {arr.shape}")
            if key == "u":
                if np.any(arr < 0) or arr.sum() <= 0:
                    raise BomixError("law parameter u must be non-negative with a positive sum")
                arr = arr / arr.sum()
            if key == "T" and np.any(arr < 0):
                raise BomixError("law parameter T (transfer) must be non-negative")
            setattr(self, key, arr)

    def law_terms(self, params: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(E + A N^-a, B, b)`` at one scale: ``L_i(D) = const_i + B_i (D_i / 1e9 + floor)^(-b_i)``."""
        b = self.b0 + self.g * self._s(params)
        return self.E + self.A * (params / 1e6) ** (-self.a), self.B.copy(), b

    def step_equivalents(self, steps) -> np.ndarray:
        """Effective steps of a static mixture after ``steps`` under forgetting ``rho``."""
        steps = np.asarray(steps, dtype=float)
        if self.rho == 1.0:
            return steps
        return (1.0 - self.rho**steps) / (1.0 - self.rho)

    def reference_losses(self, reference: Mapping) -> np.ndarray:
        """``(K,)`` final validation losses of a static reference run ``{mixture, scale, steps}``."""
        try:
            w = np.asarray(reference["mixture"], dtype=float)
            scale, steps = str(reference["scale"]), int(reference["steps"])
        except (KeyError, TypeError, ValueError):
            raise BomixError("a model reference on the synthetic backend needs the reference run's "
                             "mixture, scale and steps") from None
        m = self.metrics_at(w, scale, steps)
        return np.array([m[f"loss:{d}"][0] for d in self.space.domains])

    def signal_costs(self, spec: RunSpec) -> SignalCosts:
        """Costs the trainer would pay: K validation batches forward, a reference forward, one val gradient."""
        frac = self.eval_batch / self.batch_size
        return SignalCosts(val=self.space.k * frac / 3.0, reference=1.0 / 3.0, grads=frac)

    def _noiseless(self, eff_tokens: np.ndarray, params: np.ndarray) -> dict[str, np.ndarray]:
        """Effective tokens ``(n, K)`` and params ``(n,)`` -> metric -> ``(n,)`` noiseless values."""
        s = np.array([self._s(p) for p in params])
        b = self.b0[None, :] + self.g[None, :] * s[:, None]
        L = (
            self.E[None, :]
            + self.A[None, :] * (params[:, None] / 1e6) ** (-self.a[None, :])
            + self.B[None, :] * (eff_tokens / 1e9 + self.floor) ** (-b)
        )
        out = {f"loss:{d}": L[:, i] for i, d in enumerate(self.space.domains)}
        out["loss:target"] = L @ self.u
        return out

    def _s(self, params: float) -> float:
        n_min = self.space.scales[0].params
        n_max = self.space.scales[-1].params
        return float(np.log(params / n_min) / np.log(n_max / n_min)) if n_max > n_min else 1.0

    def metrics_at(self, w: np.ndarray, scale: str, steps) -> dict[str, np.ndarray]:
        """Vectorised noiseless metrics for static mixtures ``(n, K)`` at one scale."""
        w = np.atleast_2d(np.asarray(w, dtype=float))
        steps = np.broadcast_to(np.asarray(steps, dtype=float), (w.shape[0],))
        eff = (w @ self.T.T) * (self.step_equivalents(steps) * self.space.tokens_per_step)[:, None]
        params = np.full(w.shape[0], self.space.scale(scale).params)
        return self._noiseless(eff, params)

    # ----- Backend API -----------------------------------------------------------------------
    def run(self, spec: RunSpec) -> RunResult:
        t0 = time.perf_counter()
        self.space.check_fidelity(spec.fidelity)
        if self.delay:
            time.sleep(self.delay)
        rng = np.random.default_rng([self.seed, 7, int(spec.seed or 0)])
        cost = self.cost(spec)
        if self.fail_prob and rng.uniform() < self.fail_prob:
            return RunResult(spec, "failed", cost=cost, error="synthetic failure (fail_prob)",
                             wall_time=time.perf_counter() - t0)
        steps = np.arange(self.eval_every, spec.steps + 1, self.eval_every)
        info: dict = {}
        if spec.controller is not None:
            metrics, info = simulate(self, spec)
            steps = np.asarray(info.pop("steps_evaluated"))
            sched = MixtureSchedule.from_dict(info["schedule"])
        else:
            sched = spec.schedule or MixtureSchedule((0,), (spec.mixture,))
            eff = self._effective_tokens(sched, steps)
            params = np.full(steps.size, self.space.scale(spec.scale).params)
            metrics = self._noiseless(eff, params)
        if self.noise > 0:
            w = sched.average(spec.steps).weights
            k = self.space.k
            corner = (k * float(np.sum(w**2)) - 1) / (k - 1)
            sd = self.noise * (1 + self.hetero * corner)
            n_all = self.space.max_steps // self.eval_every
            z_run = rng.standard_normal(len(metrics))
            z_eval = rng.standard_normal((len(metrics), n_all))[:, steps // self.eval_every - 1]
            for j, m in enumerate(metrics):
                if not m.startswith("train_loss:"):
                    metrics[m] = metrics[m] + sd * (z_run[j] + 0.3 * z_eval[j])
        info.setdefault("average_mixture", sched.average(spec.steps).to_list())
        return RunResult(spec, "ok", Curve(steps, metrics), cost=cost, wall_time=time.perf_counter() - t0,
                         info=info)

    def _effective_tokens(self, sched: MixtureSchedule, steps: np.ndarray) -> np.ndarray:
        """Effective tokens ``(len(steps), K)`` under a piecewise-constant schedule (with forgetting:
        a segment ending ``r`` steps before the evaluated step is discounted by ``rho^r``)."""
        starts = list(sched.starts) + [np.inf]
        eff = np.zeros((steps.size, self.space.k))
        for a, b, m in zip(starts, starts[1:], sched.mixtures):
            end = np.minimum(steps, b)
            span = np.clip(end - a, 0, None)
            if self.rho != 1.0:  # sum_{t=a}^{end-1} rho^(steps-1-t) = rho^(steps-end) (1-rho^span)/(1-rho)
                span = np.where(span > 0, self.rho ** (steps - end) * self.step_equivalents(span), 0.0)
            eff += span[:, None] * (self.T @ m.weights)[None, :]
        return eff * self.space.tokens_per_step

    def true_value_recipe(self, spec: RunSpec, objective: Objective) -> float:
        """Noiseless objective at the end of ``spec`` run step by step (its controller's decisions
        still see batch noise from the spec's seed): the value of an online *recipe* (target mode)."""
        key = f"{objective.name}|{spec.to_json()}"
        if key not in self._recipes:
            metrics, _ = simulate(self, spec, noiseless=False)
            self._recipes[key] = float(objective.values({m: v[-1:] for m, v in metrics.items()})[0])
        return self._recipes[key]

    def describe(self) -> dict:
        d = {"name": self.name, "metrics": list(self.metrics), "seed": self.seed, "noise": self.noise}
        if self.rho != 1.0:
            d["rho"] = self.rho
        return d
