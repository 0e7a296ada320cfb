"""The synthetic backend's step simulator: one online run, step by step, under a controller.

State: effective tokens ``D (K,)``. :class:`StepSimulator` is the host driven by the one host loop
:func:`bomix.online.host.drive` (``bomix/online/base.py`` protocol); it reads its backend only through
:class:`StepLaw`, so this module never imports :mod:`bomix.backends.synthetic`. Per step ``t``:

1. ``w = ctrl.weights(t)``; the batch's ``B`` sequences are drawn by the trainer's own rule
   (systematic sampling: domain ``searchsorted(cumsum(w), (u + b) / B)``, ``u ~ U(0, 1)`` seeded by
   ``(seed, t)``), giving counts ``n (K,)``.
2. Train losses (forward before the update): ``L_i(D) + sigma_b z_i / sqrt(n_i)``; NaN if ``n_i = 0``.
3. The update: ``D <- rho D + tokens_per_step * T @ s`` with ``s`` the step's effective shares
   ``effective_shares(ctrl.loss_coefficients(t, n))`` (:mod:`bomix.online.normalisers`, the same
   coefficients the trainer puts in its loss): ``n / B`` when resampling, the loss-weighted shares under
   ``apply=reweight`` (paper or code normaliser).
4. Signals the controller asks for: validation losses ``L_i(D) + eval noise``; reference losses of
   a frozen reference model in closed form from the reference run's spec, on the same batch (the
   batch noise is shared), with DoReMi's per-token clipped excess
   ``E[max(d + s_tok eps, 0)] = d Phi(d / s_tok) + s_tok phi(d / s_tok)`` (``d`` = the domain's
   excess, ``s_tok = token_sd x`` the mean reducible loss of the two models: 0 for a domain nothing
   can learn); gradient dots through the exact first-order transfer
   ``G_i = -sum_j u_j dL_j/dD_j T_ji tokens_per_step`` (the drop of the target objective per unit
   of domain i), ``<g_i, g_val> = G_i / lr`` plus noise, ``||g_i|| = 1`` plus noise.

Randomness comes only from ``(backend seed, run seed, step)``: a run re-run from scratch
reproduces its trajectory, and a continuation (same seed) re-simulates the same steps.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from bomix.online import Signals, build_controller
from bomix.online.host import drive
from bomix.online.normalisers import effective_shares
from bomix.runs import RunSpec

SQRT2 = math.sqrt(2.0)


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * (1.0 + erf(x / SQRT2))


def batch_counts(w: np.ndarray, batch: int, u: float) -> np.ndarray:
    """``(K,)`` sequences per domain under systematic sampling (the trainer's ``PackedBatcher`` rule)."""
    cdf = np.cumsum(w)
    cdf[-1] = 1.0
    dom = np.searchsorted(cdf, (u + np.arange(batch)) / batch, side="right")
    return np.bincount(np.minimum(dom, w.size - 1), minlength=w.size).astype(float)


def space_projection(space, fid):
    """``(K,) -> (K,)`` projection onto the space's bounds at ``fid`` (None when there are none);
    feasible weights pass unchanged."""
    if not space.has_bounds(fid):
        return None
    lo, up = space.lower, space.upper_at(fid)

    def project(w: np.ndarray) -> np.ndarray:
        if np.all(w >= lo - 1e-12) and np.all(w <= up + 1e-12):
            return w
        return space.project(w, fid)[0]

    return project


class StepLaw(Protocol):
    """What the step simulator reads from its backend (:class:`bomix.backends.synthetic.SyntheticBackend`)."""

    space: Any
    batch_size: int
    eval_every: int
    seed: int
    T: np.ndarray
    u: np.ndarray
    rho: float
    lr: float
    floor: float
    token_sd: float
    batch_noise: float
    eval_noise: float
    grad_noise: float

    def law_terms(self, params: float) -> tuple: ...

    def reference_losses(self, reference: dict) -> np.ndarray: ...


class StepSimulator:
    """One online run of the synthetic law as a host of :func:`bomix.online.host.drive` (see the module
    docstring for what a step does); ``out``/``vals``/``eval_steps`` collect the curve."""

    def __init__(self, b: StepLaw, spec: RunSpec, noiseless: bool = False):
        sp = b.space
        self.b, self.k, self.B, self.tps = b, sp.k, b.batch_size, sp.tokens_per_step
        self.domains, self.steps = sp.domains, int(spec.steps)
        steps = self.steps
        self.const, self.Bc, self.bexp = b.law_terms(sp.scale(spec.scale).params)
        reference = spec.controller.reference
        self.ref = b.reference_losses(reference) if reference is not None and reference["source"] == "model" else None
        self.ref_red = None if self.ref is None else self.ref - self.const  # the reference's reducible loss
        self.sig_b = 0.0 if noiseless else b.batch_noise
        self.sig_v = 0.0 if noiseless else b.eval_noise
        self.sig_g = 0.0 if noiseless else b.grad_noise
        self.context = self.tps / self.B
        self.D = np.zeros(self.k)
        # one generator per stream, so a shorter run's draws are a prefix of a longer one's
        streams = [np.random.default_rng([b.seed, 11, int(spec.seed or 0), j]) for j in range(5)]
        self.U = streams[0].random(steps)
        self.Z = streams[1].standard_normal((steps, self.k))
        self.ZV = streams[2].standard_normal((steps, self.k))
        self.ZG = streams[3].standard_normal((steps, self.k))
        self.ZN = np.abs(streams[4].standard_normal((steps, self.k)))
        self.eval_steps: list[int] = []
        self.train_acc, self.train_cnt = np.zeros(self.k), np.zeros(self.k)
        self.out: dict[str, list[float]] = {f"train_loss:{d}": [] for d in self.domains}
        self.vals: list[np.ndarray] = []
        self._train = self._present = None

    def step(self, t: int, w: np.ndarray, want, coefficients) -> Signals:
        b, D = self.b, self.D
        const, Bc, bexp, tps = self.const, self.Bc, self.bexp, self.tps
        n = batch_counts(w, self.B, self.U[t])
        present = n > 0
        share = effective_shares(coefficients(n))
        L = const + Bc * (D / 1e9 + b.floor) ** (-bexp)
        z = self.Z[t]
        noise = self.sig_b * z / np.sqrt(np.maximum(n, 1))
        train = np.where(present, L + noise, np.nan)
        sig = Signals(step=t, train_losses=train, token_counts=n * self.context, lr=b.lr)
        if want.grads:
            dLdD = -bexp * Bc * (D / 1e9 + b.floor) ** (-bexp - 1) / 1e9  # (K,) dL_j / dD_j
            G = -(b.u * dLdD) @ b.T * tps  # (K,) drop of the target per unit step of domain i
            sig.grad_dots = np.where(present, G / b.lr * (1 + self.sig_g * self.ZG[t]), np.nan)
            sig.grad_norms = np.where(present, 1.0 + self.sig_g * self.ZN[t], 0.0)
        D = self.D = b.rho * D + tps * (b.T @ share)
        if want.reference:
            ref = self.ref
            d = L - ref
            # token-level spread of l_theta - l_ref: proportional to what data can still change
            # (the two models' reducible losses); 0 for a domain nothing can learn
            s_tok = np.maximum(b.token_sd * 0.5 * (L - const + self.ref_red), 1e-12)
            sig.ref_losses = np.where(present, ref + noise, np.nan)
            sig.excess = np.where(present, np.maximum(d * _Phi(d / s_tok) + s_tok * _phi(d / s_tok)
                                                      + self.sig_b * 0.1 * z * s_tok / np.sqrt(np.maximum(n, 1)), 0.0),
                                  np.nan)
        if want.val:
            Lv = const + Bc * (D / 1e9 + b.floor) ** (-bexp)
            sig.val_losses = Lv + self.sig_v * self.ZV[t]
        self._train, self._present = train, present
        return sig

    def end_step(self, t: int, w: np.ndarray) -> bool:
        train, present = self._train, self._present
        self.train_acc[present] += train[present]
        self.train_cnt[present] += 1
        done = t + 1
        if done % self.b.eval_every == 0 or done == self.steps:
            self.eval_steps.append(done)
            self.vals.append(self.const + self.Bc * (self.D / 1e9 + self.b.floor) ** (-self.bexp))
            mean = np.where(self.train_cnt > 0, self.train_acc / np.maximum(self.train_cnt, 1), np.nan)
            for i, dname in enumerate(self.domains):
                self.out[f"train_loss:{dname}"].append(float(mean[i]))
            self.train_acc[:], self.train_cnt[:] = 0.0, 0.0
        return True


def simulate(backend: StepLaw, spec: RunSpec, noiseless: bool = False) -> tuple[dict, dict]:
    """Run ``spec`` (which has a controller) step by step (:func:`bomix.online.host.drive`).

    Returns:
        ``(metrics, info)``: metric -> ``(n_eval,)`` values at the eval steps (validation losses
        with the backend's curve noise, ``loss:target``, ``train_loss:<d>`` window means) and
        ``info`` with ``controller`` (its output) and the realised ``schedule``.
    """
    sp = backend.space
    steps = int(spec.steps)
    ctrl = build_controller(spec.controller, sp.domains, spec.seed, initial=spec.mixture.weights, steps=steps,
                            trace_every=backend.eval_every, project=space_projection(sp, spec.fidelity))
    host = StepSimulator(backend, spec, noiseless)
    drive(ctrl, host, 0, steps)
    V = np.array(host.vals)
    metrics = {f"loss:{d}": V[:, i] for i, d in enumerate(sp.domains)}
    metrics["loss:target"] = V @ backend.u
    output = ctrl.output()
    trace = output["trace"]
    info = {"controller": output, "controller_state": ctrl.state_dict(),
            "schedule": realised_schedule(trace["steps"], trace["realised"]),
            "average_mixture": output["realised"], "steps_evaluated": host.eval_steps}
    return {**metrics, **{m: np.asarray(v) for m, v in host.out.items()}}, info


def realised_schedule(steps: list[int], running: list[list[float]]) -> dict:
    """Piecewise-constant schedule (``MixtureSchedule.to_dict`` form) of the realised mixture per
    trace interval, from the running averages ``running[i]`` over ``[0, steps[i])``."""
    S = np.asarray(steps, dtype=float)
    R = np.asarray(running, dtype=float).reshape(len(steps), -1)
    cum = R * S[:, None]
    seg = np.diff(np.vstack([np.zeros(R.shape[1]), cum]), axis=0) / np.diff(np.concatenate([[0.0], S]))[:, None]
    seg = np.clip(seg, 0.0, None)
    seg = seg / seg.sum(1, keepdims=True)
    return {"starts": [0] + [int(x) for x in S[:-1]], "mixtures": seg.tolist()}
