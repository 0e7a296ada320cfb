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

Downstream-like task metrics are opt-in (``tasks=T``): ``task:<j>`` for ``j < T``, smooth functions of the
per-domain losses through a seeded random map (a drawn, separate stream: the losses above are the same with or
without tasks). Task ``j`` reads ``z_j = sum_i v_ji L_i`` with ``v_j`` concentrated on its own domain
``j mod K`` (so tasks prefer different mixtures: conflicting optima), and reports, by its kind
(:data:`TASK_KINDS`, in rotation):

    acc   chance_j + (1 - chance_j) * sigmoid(a_j - b_j z_j)      (an accuracy in [0, 1], to maximise)
    bpb   z_j / (ln 2 * bytes_per_token_j)                          (bits per byte, to minimise)
    ppl   exp(z_j)                                                  (a perplexity, to minimise)

``a_j`` is set so that the uniform mixture at the target scores ``p0_j``. A run's tasks read its (noisy)
per-domain losses, so they inherit the mixture-dependent noise; accuracies add the sampling noise of a
benchmark of ``n_items_j`` questions (both only with ``noise > 0``).

Order dependence is opt-in: with forgetting ``rho < 1`` (per step) ``D <- rho D + new tokens``, so a
static mixture's effective tokens after ``S`` steps are ``(1 - rho^S) / (1 - rho)`` steps' worth
(``rho = 1``: ``S``; then no schedule can beat the best static mixture). Static mixtures and
schedules stay closed form; a spec with an online ``controller`` is simulated step by step
(:mod:`bomix.backends.synthetic_steps`: batch sampling, batch noise, absent domains, reference
losses, gradient dots). ``law=`` overrides any law parameter by hand (tests).

Phases matter only under the opt-in annealing law (``anneal=c > 0``, :mod:`bomix.backends.synthetic_phases`):
tokens seen late in a run transfer through a second, seeded matrix ``Q`` and remove part of the data term,
``B_i (D_i / 1e9 + floor)^(-b_i) (1 - c M_i / (M_i + kappa))``, so the best two-phase schedule beats the best
static mixture (:meth:`SyntheticBackend.schedule_values`, :meth:`SyntheticBackend.schedule_optimum`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from bomix.backends import synthetic_phases as phases
from bomix.backends.base import MetricSimulator
from bomix.backends.synthetic_steps import simulate
from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.fidelity import Fidelity
from bomix.objective import Objective
from bomix.online import SignalCosts
from bomix.runs import Curve, MixtureSchedule, RunResult, RunSpec
from bomix.space import Mixture, Scale, Space

DEFAULT_SCALES = {"20M": 20e6, "60M": 60e6, "150M": 150e6, "300M": 300e6, "1B": 1e9}
#: kinds of the downstream-like task metrics, task ``j`` is ``TASK_KINDS[j % 4]``; accuracies are maximised
TASK_KINDS = ("acc", "bpb", "acc", "ppl")
MAXIMIZED_KINDS = ("acc",)


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
            ``T`` (K, K), ``u`` (K,), ``Q`` (K, K: the annealing transfer).
        tasks: number of downstream-like ``task:<j>`` metrics (None or 0: none; see the module docstring and
            :meth:`task_directions`).
        anneal / anneal_window / anneal_saturation: the annealing law's strength ``c`` (0 = off), recency
            window ``h`` and saturation ``kappa`` (:class:`bomix.backends.synthetic_phases.AnnealConfig`).
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
        tasks: int | None = None,
        anneal: float | None = 0.0,
        anneal_window: float = 0.1,
        anneal_saturation: float = 0.3,
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
        if tasks is not None and (isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 0):
            raise BomixError(f"backend.tasks must be an integer >= 0 (downstream-like metrics), got {tasks!r}")
        self.tasks = int(tasks or 0)
        self.metrics = tuple([f"loss:{d}" for d in domains] + ["loss:target"]
                             + [f"task:{j}" for j in range(self.tasks)])
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
        self.anneal = phases.AnnealConfig(0.0 if anneal is None else anneal, anneal_window, anneal_saturation)
        self._draw_law(np.random.default_rng([20250, self.seed]))
        self.Q = phases.draw_quality_transfer(k, np.random.default_rng([20250, self.seed, 2]))
        if law:
            self._set_law(law)
        self._draw_tasks(np.random.default_rng([20250, self.seed, 1]))
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
        shapes = {"E": (k,), "A": (k,), "a": (k,), "B": (k,), "b0": (k,), "g": (k,), "T": (k, k), "u": (k,),
                  "Q": (k, k)}
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
            if key in ("T", "Q") and np.any(arr < 0):
                raise BomixError(f"law parameter {key} (transfer) must be non-negative")
            setattr(self, key, arr)

    def _draw_tasks(self, rng: np.random.Generator) -> None:
        """Task parameters (see the module docstring), calibrated on the uniform mixture at the target."""
        k, n = self.space.k, self.tasks
        self.task_kinds = tuple(TASK_KINDS[j % len(TASK_KINDS)] for j in range(n))
        v = rng.dirichlet(np.full(k, 0.5), n) if n else np.zeros((0, k))
        v[np.arange(n), np.arange(n) % k] += 1.0  # task j leans on domain j mod K
        self.task_v = v / v.sum(1, keepdims=True) if n else v
        self.task_b = rng.uniform(1.5, 4.0, n)
        self.task_chance = rng.choice([0.0, 0.25, 0.5], n)
        p0 = rng.uniform(0.35, 0.75, n)
        self.task_bytes = rng.uniform(3.0, 4.5, n)
        self.task_items = rng.integers(300, 3000, n)
        t, w0 = self.space.target, self.space.center().weights[None]
        z0 = (self._domain_losses(self._static_eff(w0, t.steps), np.array([self.space.scale(t.scale).params]),
                                  self._static_recent(w0)) @ self.task_v.T)[0]
        self.task_a = self.task_b * z0 + np.log(p0 / (1 - p0))

    def task_directions(self) -> dict[str, str]:
        """``task:<j>`` -> ``"maximize"`` (accuracies) or ``"minimize"`` (bits per byte, perplexities)."""
        return {f"task:{j}": "maximize" if kind in MAXIMIZED_KINDS else "minimize"
                for j, kind in enumerate(self.task_kinds)}

    def _task_metrics(self, L: np.ndarray) -> dict[str, np.ndarray]:
        """Per-domain losses ``(n, K)`` -> ``task:<j>`` -> ``(n,)`` values (noiseless given ``L``)."""
        z = L @ self.task_v.T
        out = {}
        for j, kind in enumerate(self.task_kinds):
            if kind == "acc":
                c = self.task_chance[j]
                out[f"task:{j}"] = c + (1 - c) / (1 + np.exp(-(self.task_a[j] - self.task_b[j] * z[:, j])))
            elif kind == "bpb":
                out[f"task:{j}"] = z[:, j] / (np.log(2.0) * self.task_bytes[j])
            else:
                out[f"task:{j}"] = np.exp(z[:, j])
        return out

    def _observed_tasks(self, metrics: Mapping[str, np.ndarray], spec: RunSpec) -> dict[str, np.ndarray]:
        """A run's task metrics from its reported per-domain losses, plus a benchmark's sampling noise on
        accuracies (``noise > 0`` only; its own stream, so the losses' noise is as without tasks)."""
        L = np.column_stack([metrics[f"loss:{d}"] for d in self.space.domains])
        out = self._task_metrics(L)
        if self.noise > 0:
            rng = np.random.default_rng([self.seed, 8, int(spec.seed or 0)])
            z = rng.standard_normal((self.tasks, L.shape[0]))
            for j, kind in enumerate(self.task_kinds):
                if kind == "acc":
                    p = out[f"task:{j}"]
                    out[f"task:{j}"] = np.clip(p + np.sqrt(p * (1 - p) / self.task_items[j]) * z[j], 0.0, 1.0)
        return out

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

    def _domain_losses(self, eff_tokens: np.ndarray, params: np.ndarray,
                       recent: np.ndarray | None = None) -> np.ndarray:
        """Effective tokens ``(n, K)``, params ``(n,)`` (, recent quality ``(n, K)``) -> ``(n, K)`` losses."""
        s = np.array([self._s(p) for p in params])
        b = self.b0[None, :] + self.g[None, :] * s[:, None]
        data = self.B[None, :] * (eff_tokens / 1e9 + self.floor) ** (-b)
        if recent is not None:
            data = data * phases.anneal_factor(recent, self.anneal)
        return self.E[None, :] + self.A[None, :] * (params[:, None] / 1e6) ** (-self.a[None, :]) + data

    def _static_recent(self, w: np.ndarray) -> np.ndarray | None:
        """Recent quality ``(n, K)`` of static mixtures ``w (n, K)`` (None when the annealing law is off)."""
        return w @ self.Q.T if self.anneal.on else None

    def _noiseless(self, eff_tokens: np.ndarray, params: np.ndarray,
                   recent: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """As :meth:`_domain_losses` -> metric -> ``(n,)`` noiseless values (losses only)."""
        L = self._domain_losses(eff_tokens, params, recent)
        out = {f"loss:{d}": L[:, i] for i, d in enumerate(self.space.domains)}
        out["loss:target"] = L @ self.u
        return out

    def _s(self, params: float) -> float:
        n_min = self.space.scales[0].params
        n_max = self.space.scales[-1].params
        return float(np.log(params / n_min) / np.log(n_max / n_min)) if n_max > n_min else 1.0

    def _static_eff(self, w: np.ndarray, steps) -> np.ndarray:
        """Effective tokens ``(n, K)`` of static mixtures ``w (n, K)`` after ``steps``."""
        steps = np.broadcast_to(np.asarray(steps, dtype=float), (w.shape[0],))
        return (w @ self.T.T) * (self.step_equivalents(steps) * self.space.tokens_per_step)[:, None]

    def metrics_at(self, w: np.ndarray, scale: str, steps) -> dict[str, np.ndarray]:
        """Vectorised noiseless metrics for static mixtures ``(n, K)`` at one scale (tasks included)."""
        w = np.atleast_2d(np.asarray(w, dtype=float))
        eff = self._static_eff(w, steps)
        params = np.full(w.shape[0], self.space.scale(scale).params)
        out = self._noiseless(eff, params, self._static_recent(w))
        if self.tasks:
            out.update(self._task_metrics(np.column_stack([out[f"loss:{d}"] for d in self.space.domains])))
        return out

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
            recent = (phases.schedule_recent(self, sched.starts, [m.weights for m in sched.mixtures], steps)
                      if self.anneal.on else None)
            metrics = self._noiseless(eff, params, recent)
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
        if self.tasks:
            metrics.update(self._observed_tasks(metrics, spec))
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
        self.check_controller(spec)
        key = f"{objective.name}|{spec.to_json()}"
        if key not in self._recipes:
            metrics, _ = simulate(self, spec, noiseless=False)
            self._recipes[key] = float(objective.values({m: v[-1:] for m, v in metrics.items()})[0])
        return self._recipes[key]

    def check_controller(self, spec: RunSpec) -> None:
        """Also refuses online controllers under the annealing law (not simulated step by step)."""
        super().check_controller(spec)
        if spec.controller is not None and self.anneal.on:
            raise BomixError(f"online controller {spec.controller.kind} cannot run under the synthetic annealing "
                             "law (not simulated step by step): set backend.anneal=0")

    def schedule_values(self, W, fractions, fidelity: Fidelity, objective: Objective) -> np.ndarray:
        """``(n,)`` noiseless objective at the end of a run at ``fidelity`` under P-phase schedules: ``W (n, P, K)``
        per-phase mixtures, ``fractions (n, P)`` or ``(P,)`` (see :mod:`bomix.backends.synthetic_phases`)."""
        return phases.schedule_values(self, W, fractions, fidelity, objective)

    def schedule_optimum(self, fractions, fidelity: Fidelity | None = None,
                         objective: Objective | None = None) -> tuple[np.ndarray, float]:
        """Best schedule ``(W (P, K), value)`` for fixed ``fractions (P,)`` at ``fidelity`` (default the target)
        of ``objective`` (default ``loss:target``), cached; :meth:`optimum` is the best static mixture."""
        return phases.cached_optimum(self, fractions, fidelity or self.space.target,
                                     objective or self.default_objective)

    def describe(self) -> dict:
        d = {"name": self.name, "metrics": list(self.metrics), "seed": self.seed, "noise": self.noise}
        if self.rho != 1.0:
            d["rho"] = self.rho
        if self.tasks:
            d["tasks"] = self.tasks
            d["task_directions"] = self.task_directions()
        if self.anneal.on:
            d["anneal"] = self.anneal.describe()
        return d
