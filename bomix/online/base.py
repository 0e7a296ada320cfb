"""The controller seam: what every host (trainer, synthetic simulator) does with an online method.

Host protocol (one run; ``K`` domains; steps counted from 0, step ``t`` is the update that
produces checkpoint ``t + 1``)::

    ctrl = build_controller(spec.controller, domains, seed=spec.seed, initial=spec.mixture.weights,
                            steps=spec.steps, trace_every=eval_every, project=space_projection)
    if resuming:                      # continuation: the checkpoint holds ctrl.state_dict()
        ctrl.load_state_dict(saved)
    for t in range(start, spec.steps):
        w = ctrl.weights(t)           # (K,) sampling weights of this batch (already projected)
        lw = ctrl.loss_weights(t)     # (K,) per-domain loss multipliers, or None (plain mean loss)
        want = ctrl.wants(t)          # which extra signals to gather at this step
        ... draw the batch from w with the host's own rule, seeded by (seed, t) ...
        ... loss = sum_i c_i * (mean token loss of domain i in the batch), with
              c = ctrl.loss_coefficients(t, token_counts)   (bomix/online/normalisers.py: the plain
              token mean, or lw under the paper's "domain" / the code's "token" normaliser)
        ... if want.reference: a frozen reference model's forward on the same batch
        ... if want.grads: per-domain gradients g_i of the batch and one validation gradient
        ... optimiser step
        ... if want.val: validation loss of every domain after the update
        ctrl.observe(t, Signals(step=t, train_losses=..., token_counts=..., ...))
    info["controller"] = ctrl.output()   # recommendation, realised weights, trace
    checkpoint["controller"] = ctrl.state_dict()  # JSON

Rules for hosts: call :meth:`Controller.observe` at every step (cheap signals always; the
expensive ones only where :meth:`Controller.wants` asked for them). Rules for controllers:
``wants(t)`` depends only on ``t`` and the config (so :meth:`Controller.overhead` can count the
extra work before dispatch); all randomness comes from ``(seed, t)``, so a run re-run from scratch
reproduces its trajectory; ``state_dict()`` is plain JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from bomix.errors import BomixError
from bomix.controller_config import ControllerConfig
from bomix.online.normalisers import effective_shares, loss_coefficients



@dataclass(frozen=True)
class Wants:
    """Extra signals a controller asks the host for at one step (all False: only the free ones)."""

    val: bool = False
    reference: bool = False
    grads: bool = False

    def __bool__(self) -> bool:
        return self.val or self.reference or self.grads


NOTHING = Wants()


@dataclass
class Signals:
    """What a host passes to :meth:`Controller.observe` after step ``step``.

    Attributes:
        step: the step just taken (0-based).
        train_losses: ``(K,)`` mean token loss of each domain's sequences in this step's batch,
            measured in the forward pass of the update; NaN for a domain absent from the batch.
        token_counts: ``(K,)`` tokens of each domain in this batch (0 = absent).
        val_losses: ``(K,)`` validation loss per domain after the update (only when ``wants.val``).
        ref_losses: ``(K,)`` the frozen reference model's mean token loss per domain on the same
            batch, NaN where absent (only when ``wants.reference``).
        excess: ``(K,)`` mean over domain-i tokens of ``max(l_token - l_ref_token, 0)`` (DoReMi's
            per-token clipped excess; optional, hosts with a reference model should give it).
        grad_dots: ``(K,)`` ``<g_i, g_val>``: dot of domain i's batch gradient with the gradient of
            one validation batch (only when ``wants.grads``).
        grad_norms: ``(K,)`` ``||g_i||`` (with ``grad_dots``).
        grad_gram: optional ``(K, K)`` ``<g_i, g_j>``.
        lr: learning rate of this step's update (optional).
    """

    step: int
    train_losses: np.ndarray
    token_counts: np.ndarray
    val_losses: np.ndarray | None = None
    ref_losses: np.ndarray | None = None
    excess: np.ndarray | None = None
    grad_dots: np.ndarray | None = None
    grad_norms: np.ndarray | None = None
    grad_gram: np.ndarray | None = None
    lr: float | None = None


@dataclass(frozen=True)
class SignalCosts:
    """Extra FLOPs of one request of each signal, in units of one training step's FLOPs.

    Attributes:
        val: one validation pass over every domain (forward only: about
            ``(K * val tokens) / (3 * train tokens per step)``).
        reference: a frozen reference model's forward on the batch (1/3 of a step at equal size).
        grads: per-domain sub-batch gradients plus one validation batch (``B_val / B``).
    """

    val: float = 0.0
    reference: float = 1.0 / 3.0
    grads: float = 0.0


class Controller:
    """Base of every online controller (plain numpy; see the module docstring for the protocol).

    A subclass sets ``kind``, a ``Params`` dataclass (its published defaults: the one typed home of
    them) and implements :meth:`update` (and, as needed, :meth:`sampling`, :meth:`wants`,
    :meth:`_state`, :meth:`_load_state`). The method's own mixture is ``self.w``: the sampling
    weights under ``apply=resample``, the loss weights under ``apply=reweight``; its step-average is
    the recommendation of a ``proxy``-mode policy.

    Args:
        config: the run's controller config.
        domains: domain names, ``(K,)`` order of every vector.
        seed: the run seed (all randomness from ``(seed, step)``).
        initial: ``(K,)`` initial (base) mixture: the spec's mixture.
        steps: the run's last step (the trace always ends there).
        trace_every: trace granularity (the host's evaluation interval).
        project: maps ``(K,)`` weights onto the space (bounds, repetition cap); identity if None.
    """

    kind: ClassVar[str] = "controller"

    @dataclass(frozen=True)
    class Params:
        pass

    def __init__(self, config: ControllerConfig, domains: Sequence[str], seed: int, *,
                 initial: np.ndarray | Sequence[float], steps: int, trace_every: int = 1,
                 project: Callable[[np.ndarray], np.ndarray] | None = None):
        self.config = config
        self.domains = tuple(domains)
        self.k = len(self.domains)
        self.seed = int(seed or 0)
        self.steps = int(steps)
        self.trace_every = max(int(trace_every), 1)
        self.every = int(config.every)
        self.apply = config.apply
        self.p = self._params(config.params)
        init = np.asarray(initial, dtype=float).reshape(-1)
        if init.size != self.k or np.any(init < 0) or not math.isclose(init.sum(), 1.0, abs_tol=1e-6):
            raise BomixError(f"controller {self.kind}: initial mixture must be {self.k} weights summing to 1")
        self.initial = init / init.sum()
        self._project_fn = project
        self._proj_key: bytes | None = None
        self._proj_val: np.ndarray | None = None
        self.w = self.initial.copy()
        self._sum_w = np.zeros(self.k)
        self._sum_real = np.zeros(self.k)
        self._n = 0
        self.n_updates = 0
        self._trace: dict[str, list] = {"steps": [], "weights": [], "realised": []}

    # ----- parameters -----------------------------------------------------------------------
    def _params(self, params: Mapping[str, Any]):
        names = {f.name for f in fields(self.Params)}
        unknown = set(params) - names
        if unknown:
            raise BomixError(f"controller {self.kind}: unknown param(s) {sorted(unknown)}; known: {sorted(names)}")
        try:
            p = self.Params(**dict(params))
        except TypeError as exc:
            raise BomixError(f"controller {self.kind}: bad params: {exc}") from None
        self.check_params(p)
        return p

    def check_params(self, p) -> None:
        """Raise BomixError for a bad parameter value (override)."""

    # ----- what the host calls ---------------------------------------------------------------
    def project(self, w: np.ndarray) -> np.ndarray:
        """``(K,)`` weights projected onto the space (cached: hosts call this every step)."""
        w = np.asarray(w, dtype=float)
        if self._project_fn is None:
            return w
        key = w.tobytes()
        if key != self._proj_key:
            self._proj_key, self._proj_val = key, np.asarray(self._project_fn(w), dtype=float).reshape(-1)
        return self._proj_val

    def weights(self, step: int) -> np.ndarray:
        """``(K,)`` sampling weights of the batch of step ``step`` (projected onto the space)."""
        return self.project(self.sampling(step))

    def sampling(self, step: int) -> np.ndarray:
        """Unprojected sampling weights (override for probes or one-domain batches)."""
        return self.w if self.apply == "resample" else self.initial

    def loss_weights(self, step: int) -> np.ndarray | None:
        """``(K,)`` per-domain loss multipliers (``apply=reweight``), None for a plain mean loss."""
        return self.w.copy() if self.apply == "reweight" else None

    @property
    def loss_normaliser(self) -> str:
        """``domain`` (paper: weighted sum of per-domain mean losses) or ``token`` (code: weighted token mean)."""
        return getattr(self.p, "normaliser", "domain")

    def loss_coefficients(self, step: int, counts: np.ndarray) -> np.ndarray:
        """``(K,)`` coefficients of the per-domain mean losses in step ``step``'s loss, for a batch with
        ``counts (K,)`` tokens per domain (:func:`bomix.online.normalisers.loss_coefficients`; every host
        computes its loss with this, so all hosts train on the same objective)."""
        return loss_coefficients(counts, self.loss_weights(step), self.loss_normaliser, self.weights(step))

    def wants(self, step: int) -> Wants:
        """Extra signals needed after step ``step`` (a function of ``step`` and the config only)."""
        return NOTHING

    def is_update(self, step: int) -> bool:
        return (step + 1) % self.every == 0

    def observe(self, step: int, signals: Signals) -> None:
        """Record step ``step`` (the weights that were in force) and update the method's weights."""
        counts = np.asarray(signals.token_counts, dtype=float)
        self._sum_w += self.w
        self._sum_real += self._realised(step, counts)
        self._n += 1
        self.update(step, signals)
        done = step + 1
        if done % self.trace_every == 0 or done == self.steps:
            self._trace["steps"].append(done)
            self._trace["weights"].append(self.w.tolist())
            self._trace["realised"].append(self._realised_average().tolist())

    def update(self, step: int, signals: Signals) -> None:
        """The method's rule (override): read ``signals``, change ``self.w`` (and count updates)."""
        raise NotImplementedError

    def _realised(self, step: int, counts: np.ndarray) -> np.ndarray:
        """``(K,)`` mixture the model effectively trained on at this step (counts, loss weights)."""
        if np.asarray(counts, dtype=float).sum() <= 0:
            return self.weights(step)
        return effective_shares(self.loss_coefficients(step, counts))

    def _realised_average(self) -> np.ndarray:
        """``(K,)`` average effective mixture so far (steps that trained on nothing do not count)."""
        total = self._sum_real.sum()
        return self._sum_real / total if total > 0 else self.w.copy()

    # ----- outputs ---------------------------------------------------------------------------
    def output(self) -> dict:
        """JSON: ``average`` (the method's step-averaged weights: the proxy recommendation),
        ``final`` weights, ``realised`` (average effective training mixture), ``trace`` at
        ``trace_every`` steps (``steps``, ``weights``, running ``realised`` average), ``updates``."""
        n = max(self._n, 1)
        return {"kind": self.kind, "average": (self._sum_w / n).tolist() if self._n else self.w.tolist(),
                "final": self.w.tolist(), "realised": self._realised_average().tolist(),
                "steps_observed": self._n, "updates": self.n_updates,
                "trace": {k: list(v) for k, v in self._trace.items()}}

    def overhead(self, costs: SignalCosts | None = None, start: int = 0) -> float:
        """Extra FLOPs as a fraction of the training FLOPs of steps ``[start, steps)``."""
        costs = costs or SignalCosts()
        span = self.steps - int(start)
        if span <= 0:
            return 0.0
        extra = 0.0
        for t in range(int(start), self.steps):
            want = self.wants(t)
            if want:
                extra += costs.val * want.val + costs.reference * want.reference + costs.grads * want.grads
        return extra / span

    # ----- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-only state (checkpoints): continuing from it equals an uninterrupted run."""
        return {"kind": self.kind, "w": self.w.tolist(), "sum_w": self._sum_w.tolist(),
                "sum_real": self._sum_real.tolist(), "n": self._n, "n_updates": self.n_updates,
                "trace": {k: list(v) for k, v in self._trace.items()}, "method": self._state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise BomixError(f"checkpoint holds a {state.get('kind')!r} controller, the spec asks for "
                             f"{self.kind!r}: a continuation must carry the same controller")
        self.w = np.asarray(state["w"], dtype=float)
        self._sum_w = np.asarray(state["sum_w"], dtype=float)
        self._sum_real = np.asarray(state["sum_real"], dtype=float)
        self._n, self.n_updates = int(state["n"]), int(state["n_updates"])
        self._trace = {k: list(v) for k, v in state["trace"].items()}
        self._load_state(state.get("method") or {})

    def _state(self) -> dict:
        """Method-specific JSON state (override)."""
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`_state` (override)."""

    # ----- helpers ---------------------------------------------------------------------------
    def rng(self, step: int, salt: int = 0) -> np.random.Generator:
        """Generator of step ``step`` (same seed and step -> same draws)."""
        return np.random.default_rng([self.seed, int(step), int(salt), 0x0B0])

    def uniform(self, step: int, salt: int = 0) -> float:
        """One U[0, 1) draw of step ``step`` (a SplitMix64 hash of seed, step, salt: cheap per step)."""
        return _splitmix(_splitmix(_splitmix(self.seed) ^ int(step)) ^ int(salt)) / 2.0**64


_M64 = (1 << 64) - 1


def _splitmix(x: int) -> int:
    z = (int(x) + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=float) - np.max(x)
    e = np.exp(z)
    return e / e.sum()


def renormalise(w: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Clip at ``floor`` and renormalise to sum 1."""
    w = np.clip(np.asarray(w, dtype=float), floor, None)
    s = w.sum()
    if not np.isfinite(s) or s <= 0:
        raise BomixError("controller weights became degenerate (non-finite or all zero)")
    return w / s
