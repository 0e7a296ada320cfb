"""The training loop, nanoGPT-style: one function a person can read in one sitting.

It is shared by pretraining (:class:`PackedBatcher`: packed sequences sampled from per-domain token
shards by the mixture) and fine-tuning (``sft.SFTBatcher``). The step loop is the one online host loop,
:func:`bomix.online.host.drive` (a run without a controller goes through it as :class:`~bomix.online.host.Fixed`
weights); :class:`_TrainHost` is one step. Per step ``t``:

1. ``w = mixture_at(t)`` (static mixture, a schedule, the last weights a Python callback returned,
   or an online controller's ``weights(t)``, already projected onto the space);
2. a batch drawn by a generator seeded with ``(seed, t)``, so a continued run sees exactly the
   batches an uninterrupted one would;
3. the loss ``sum_i c_i * (mean token loss of domain i)`` (:mod:`bomix.online.normalisers`: the plain
   token mean, or a controller's per-domain loss weights under the paper's or the code's DoReMi normaliser);
   with per-domain gradients wanted, the same gradient assembled from per-domain sub-batches;
4. AdamW at ``lr(t)``: linear warm-up, then cosine to ``min_lr_ratio * lr`` at ``schedule_steps``
   (the longest run of the ladder), so every shorter run is a truncation of the same schedule;
5. a controller's ``observe(t, signals)``: per-domain train losses and token counts (always), and
   on demand validation losses, a frozen reference model's losses on the batch, gradient dots;
6. every ``eval_every`` steps (and at the end): mean token loss on each domain's fixed
   validation sequences -> ``loss:<domain>``, plus ``train_loss`` and ``train_loss:<domain>``
   (token means since the last evaluation);
7. every ``callback_every`` steps: ``callback(state)`` may return new weights.

Checkpoints (:mod:`.checkpoint`) hold tensors in ``ckpt.pt`` and everything else in JSON, the
controller's state included, so a continuation equals an uninterrupted run.

A non-finite loss ends the run as ``diverged``; out-of-memory ends it as ``failed``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bomix.backends.trainer import checkpoint as ckpt
from bomix.backends.trainer.host import OnlineRun
from bomix.backends.trainer.signals import (combined_loss, domain_gradients, domain_sums,
                                            excess, per_domain_mean, token_losses, val_losses, validation_batch)
from bomix.errors import BomixError
from bomix.online import Signals
from bomix.online.host import Fixed, drive


@dataclass
class TrainConfig:
    """Optimisation and evaluation settings of one run.

    Args:
        steps: steps to train to (the run's fidelity).
        schedule_steps: length of the learning-rate schedule (the ladder's longest run).
        lr / min_lr_ratio / warmup: peak learning rate, final fraction, warm-up steps.
        weight_decay / beta1 / beta2 / grad_clip: AdamW and clipping.
        eval_every: evaluation interval in steps (the run's last step is always evaluated).
        seed: data order (and, in the backend, initial weights).
        device: ``auto`` (cuda if available), ``cpu``, ``cuda``, ``cuda:1``...
        precision: ``auto`` (bf16 autocast on GPU, fp32 on CPU), ``fp32`` or ``bf16``.
        compile: wrap the model in ``torch.compile`` (GPU; ignored on CPU).
        callback_every: steps between callback calls (0 = never).
        save_at: steps (phase boundaries) at which a checkpoint is also saved, besides the final one
            (:func:`bomix.backends.trainer.checkpoint.boundary`), so a branch can start there.
    """

    steps: int
    schedule_steps: int
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 100
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    callback_every: int = 0
    save_at: tuple[int, ...] = ()

    def lr_at(self, step: int) -> float:
        """Learning rate for the update that produces step ``step + 1``."""
        if self.warmup and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        span = max(self.schedule_steps - self.warmup, 1)
        progress = min(max(step - self.warmup, 0) / span, 1.0)
        floor = self.min_lr_ratio * self.lr
        return floor + 0.5 * (self.lr - floor) * (1.0 + math.cos(math.pi * progress))


class Batcher(Protocol):
    """Where batches come from (pretraining or SFT)."""

    domains: Sequence[str]

    def batch(self, step: int, weights: np.ndarray, rng: np.random.Generator):
        """``(input_ids (B, T) long, labels (B, T) long with -100 = ignored, domain ids (B,) int)``."""

    def val_batches(self, domain: str) -> list:
        """Fixed validation ``(input_ids, labels)`` pairs of one domain."""

    @property
    def tokens_per_step(self) -> int:
        """Training tokens per step (for FLOPs)."""


@dataclass
class TrainState:
    """What a callback sees: the step, weights in force, and recent per-domain losses ``(K,)``."""

    step: int
    weights: np.ndarray
    train_losses: np.ndarray
    val_losses: np.ndarray | None
    domains: Sequence[str]


@dataclass
class TrainOutput:
    """The outcome of :func:`train`."""

    status: str
    steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time of the loop (all threads): robust to other load
    tokens: int = 0
    domain_counts: np.ndarray | None = None
    weight_log: list[tuple[int, list[float]]] = field(default_factory=list)
    last_step: int = 0


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BomixError(f"device={device} but no CUDA GPU is visible: use device=cpu")
    return device


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def evaluate(model, batcher: Batcher, device: str, autocast, batches: int | None = None) -> np.ndarray:
    """``(K,)`` mean token loss on each domain's fixed validation batches (the first ``batches`` if given)."""
    return val_losses(model, [batcher.val_batches(d)[:batches] for d in batcher.domains], device, autocast)


def train(
    model,
    batcher: Batcher,
    cfg: TrainConfig,
    mixture_at: Callable[[int], np.ndarray],
    *,
    resume: Path | None = None,
    checkpoint: Path | None = None,
    callback: Callable[[TrainState], Any] | None = None,
    online: OnlineRun | None = None,
    save_meta: dict | None = None,
) -> TrainOutput:
    """Train ``model`` to ``cfg.steps`` (from the checkpoint folder ``resume`` if given).

    Args:
        model: a causal LM (``model(input_ids=...).logits``: ``(B, T, V)``).
        batcher: training and validation batches.
        cfg: settings.
        mixture_at: step -> ``(K,)`` weights in force at that step (ignored under a controller).
        resume: a checkpoint folder written by an earlier call (continue from its step).
        checkpoint: the folder to write the final checkpoint to (see :mod:`.checkpoint`), and those at the
            steps ``cfg.save_at`` to its boundary subfolders.
        callback: a Python callable called every ``cfg.callback_every`` steps; may return new weights.
        online: a controller and its signals (:mod:`.host`); the batch weights, loss weights and
            signals then come from it, and its state is checkpointed.
        save_meta: extra JSON facts for the checkpoint (scale, model shape).

    Returns:
        :class:`TrainOutput` with the learning curve and status (never raises for a bad run).
    """
    import torch

    if online is not None and callback is not None:
        raise BomixError("a run takes a controller or a callback, not both")
    device = resolve_device(cfg.device)
    cuda = device.startswith("cuda")
    autocast = _precision(cfg.precision, cuda)
    domains = tuple(batcher.domains)
    k = len(domains)
    names = [f"loss:{d}" for d in domains] + ["train_loss"] + [f"train_loss:{d}" for d in domains]
    out = TrainOutput(status="ok", metrics={m: [] for m in names})
    model.to(device)
    model.train()
    opt, params = _optimizer(model, cfg, cuda)
    counts = np.zeros(k)
    prev_seconds = 0.0
    override: np.ndarray | None = None
    ctrl = online.controller if online is not None else None
    start = 0
    window = None
    if resume is not None:
        start, counts, override, prev_seconds, window = _restore(resume, device, model, opt, out, names, online)
    fwd = torch.compile(model) if (cfg.compile and cuda) else model
    host = _TrainHost(model, fwd, opt, params, batcher, cfg, device, autocast, out, online, callback, counts, override)
    host.t = start
    if window is not None:  # a boundary checkpoint between two evaluations: the train-loss window goes on
        host.ev_sum, host.ev_n = window
    if checkpoint is not None and cfg.save_at:
        def boundary(step: int) -> None:
            _save(ckpt.boundary(checkpoint, step), model, opt, out, step, host.counts, host.override,
                  prev_seconds + time.perf_counter() - t0, save_meta, online, (host.ev_sum, host.ev_n))
        host.on_boundary = boundary
    driven = ctrl if ctrl is not None else Fixed(
        lambda t: host.override if host.override is not None else np.asarray(mixture_at(t), dtype=float))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        step = drive(driven, host, start, cfg.steps)
    except Exception as exc:  # noqa: BLE001 - a bad run must not stop the campaign
        step = host.t
        if not _is_oom(exc):
            raise
        out.status, out.error = "failed", f"out of memory at step {step + 1}: {str(exc).splitlines()[0][:200]}"
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.empty_cache()
    counts, override = host.counts, host.override
    out.seconds = time.perf_counter() - t0
    out.cpu_seconds = time.process_time() - c0
    out.domain_counts = counts
    out.last_step = step
    if out.status == "ok" and checkpoint is not None:
        _save(checkpoint, model, opt, out, cfg.steps, counts, override, prev_seconds + out.seconds, save_meta, online)
    return out


def _precision(precision: str, cuda: bool) -> Callable[[], contextlib.AbstractContextManager]:
    """Set up the matmul precision (TF32 on CUDA) and return the autocast context factory of the forward
    passes: bf16 autocast for ``precision="bf16"`` (and ``"auto"`` on a GPU), else a no-op context."""
    import torch

    use_bf16 = precision == "bf16" or (precision == "auto" and cuda)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def autocast():
        if not use_bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)

    return autocast


def _optimizer(model, cfg: TrainConfig, cuda: bool):
    """AdamW over the trainable parameters, weight decay on the matrices (dim >= 2) only.

    Returns:
        ``(optimizer, params)``: ``params`` the trainable parameters (for clipping and per-domain gradients).
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=cuda)
    return opt, params


def _restore(resume: Path, device: str, model, opt, out: TrainOutput, names: list[str],
             online: OnlineRun | None) -> tuple[int, np.ndarray, np.ndarray | None, float, tuple | None]:
    """Load a checkpoint folder into ``model``, ``opt``, ``out`` (the curve so far) and the controller.

    The checkpoint must have been trained with the same controller config as ``online`` (or none).

    Returns:
        ``(step reached, (K,) sequences seen per domain, the callback's (K,) override weights or None,
        seconds trained before, the (K,) train-loss sums and counts since the last evaluation or None)``.
    """
    state = ckpt.load_state(resume)
    tensors = ckpt.load_tensors(resume, device)
    model.load_state_dict(tensors["model"])
    opt.load_state_dict(tensors["optim"])
    start = int(state["step"])
    out.steps = [int(x) for x in state.get("steps", [])]
    old = {m: [float("nan") if v is None else float(v) for v in vals]
           for m, vals in dict(state.get("metrics", {})).items()}
    out.metrics = {m: old.get(m, [float("nan")] * len(out.steps)) for m in names}
    counts = np.asarray(state["counts"], dtype=float)
    override = None if state.get("override") is None else np.asarray(state["override"], dtype=float)
    out.weight_log = [(int(s_), [float(x) for x in w_]) for s_, w_ in state.get("weight_log", [])]
    prev_seconds = float(state.get("seconds", 0.0))
    saved = state.get("controller")
    if (saved or {}).get("config") != (online.config if online is not None else None):
        raise BomixError(f"checkpoint {resume} was trained with controller "
                         f"{(saved or {}).get('config')} but the continuation asks for "
                         f"{online.config if online is not None else None}: a continuation must carry the same controller")
    if online is not None and online.controller is not None:
        online.controller.load_state_dict(saved["state"])
        online.requests.update({key: 0 for key in online.requests})
    win = state.get("window")
    window = None if win is None else (np.asarray(win["sum"], dtype=float), np.asarray(win["n"], dtype=float))
    return start, counts, override, prev_seconds, window


def _save(checkpoint: Path, model, opt, out: TrainOutput, step: int, counts: np.ndarray,
          override: np.ndarray | None, seconds: float, save_meta: dict | None, online: OnlineRun | None,
          window: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Write a checkpoint (:mod:`.checkpoint`): model and optimiser tensors, and as JSON the curve, ``(K,)``
    counts, the override weights, the weight log, total ``seconds``, ``save_meta``, the controller and (a boundary
    checkpoint) the train-loss ``window`` since the last evaluation."""
    state = {"step": step, "steps": out.steps, "metrics": _json_metrics(out.metrics),
             "counts": counts.tolist(), "override": None if override is None else override.tolist(),
             "weight_log": out.weight_log, "seconds": seconds, **(save_meta or {}),
             "controller": None if online is None else {"config": online.config,
                                                        "state": online.controller.state_dict()}}
    if window is not None:
        state["window"] = {"sum": window[0].tolist(), "n": window[1].tolist()}
    ckpt.save(checkpoint, {"model": model.state_dict(), "optim": opt.state_dict()}, state)


class _TrainHost:
    """One training step of :func:`train` as a host of :func:`bomix.online.host.drive` (steps 2-7 of the
    module docstring); the loop state (window sums, token counts, the callback's override) lives here."""

    def __init__(self, model, fwd, opt, params, batcher: Batcher, cfg: TrainConfig, device: str, autocast,
                 out: TrainOutput, online: OnlineRun | None, callback, counts: np.ndarray,
                 override: np.ndarray | None):
        self.model, self.fwd, self.opt, self.params = model, fwd, opt, params
        self.batcher, self.cfg, self.device, self.autocast = batcher, cfg, device, autocast
        self.out, self.online, self.callback = out, online, callback
        self.counts, self.override = counts, override
        self.domains = tuple(batcher.domains)
        k = self.k = len(self.domains)
        self.win_loss, self.win_n = np.zeros(k), np.zeros(k)  # per-domain train loss since the last callback
        self.ev_sum, self.ev_n = np.zeros(k), np.zeros(k)  # per-domain train token-loss sums/counts since the last eval
        self.last_val: np.ndarray | None = None
        self.val_set = None
        self.t = 0  # the step being taken (for an out-of-memory message)
        self.on_boundary: Callable[[int], None] | None = None  # saves a boundary checkpoint (cfg.save_at)

    def step(self, step: int, w: np.ndarray, want, coef_fn) -> Signals | None:
        import torch

        self.t = step
        out, cfg, device, autocast, k, online = self.out, self.cfg, self.device, self.autocast, self.k, self.online
        if not out.weight_log or not np.allclose(out.weight_log[-1][1], w, rtol=0, atol=1e-12):
            out.weight_log.append((step, [float(x) for x in w]))
        rng = np.random.default_rng([cfg.seed, step])
        x, y, dom = self.batcher.batch(step, w, rng)
        for g in self.opt.param_groups:
            g["lr"] = cfg.lr_at(step)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        dom_t = torch.as_tensor(np.asarray(dom), dtype=torch.long, device=device)
        grads = None
        if want.grads:
            if self.val_set is None:
                self.val_set = [self.batcher.val_batches(d) for d in self.domains]
            vx, vy = validation_batch(self.val_set, online.val_batch_size, step)
            tok_loss, mask, sums, n_dom, grads = domain_gradients(  # uncompiled: sub-batch shapes vary
                self.model, self.params, x, y, dom_t, k, coef_fn, vx.to(device), vy.to(device), autocast)
            loss = combined_loss(sums, n_dom, coef_fn(n_dom.double().cpu().numpy()))
            online.requests["grads"] += 1
        else:
            with autocast():
                tok_loss, mask = token_losses(self.fwd, x, y)
            sums, n_dom = domain_sums(tok_loss, mask, dom_t, k)
            loss = combined_loss(sums, n_dom, coef_fn(n_dom.detach().double().cpu().numpy()))
        if not torch.isfinite(loss):
            out.status, out.error = "diverged", f"loss became {loss.item()} at step {step + 1}"
            return None
        if grads is None:
            loss.backward()
        ref_losses = exc_losses = None
        if want.reference and online.reference is not None:
            with torch.no_grad(), autocast():
                ref_tok, _ = token_losses(online.reference, x, y)
            ref_losses = per_domain_mean(*domain_sums(ref_tok, mask, dom_t, k))
            exc_losses = excess(tok_loss, ref_tok, mask, dom_t, k)
            online.requests["reference"] += 1
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        s_np, n_np = sums.detach().double().cpu().numpy(), n_dom.detach().double().cpu().numpy()
        dom_losses = np.where(n_np > 0, s_np / np.maximum(n_np, 1), np.nan)
        seen_now = np.bincount(np.asarray(dom), minlength=k)
        self.win_loss += np.where(n_np > 0, dom_losses, 0.0) * seen_now
        self.win_n += seen_now
        self.ev_sum, self.ev_n = self.ev_sum + s_np, self.ev_n + n_np
        self.counts += seen_now
        out.tokens += int(n_np.sum())
        val_now = None
        if want.val:
            val_now = evaluate(self.model, self.batcher, device, autocast, online.eval_batches)
            online.requests["val"] += 1
        return Signals(step=step, train_losses=dom_losses, token_counts=n_np, val_losses=val_now,
                       ref_losses=ref_losses, excess=exc_losses,
                       grad_dots=None if grads is None else grads.dots,
                       grad_norms=None if grads is None else grads.norms,
                       grad_gram=None if grads is None else grads.gram, lr=cfg.lr_at(step))

    def end_step(self, step: int, w: np.ndarray) -> bool:
        out, cfg, k = self.out, self.cfg, self.k
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            self.last_val = last_val = evaluate(self.model, self.batcher, self.device, self.autocast)
            if not np.all(np.isfinite(last_val)):
                out.status, out.error = "diverged", f"validation loss became non-finite at step {done}"
                return False
            out.steps.append(done)
            ev_sum, ev_n = self.ev_sum, self.ev_n
            for j, d in enumerate(self.domains):
                out.metrics[f"loss:{d}"].append(float(last_val[j]))
                out.metrics[f"train_loss:{d}"].append(float(ev_sum[j] / ev_n[j]) if ev_n[j] else float("nan"))
            out.metrics["train_loss"].append(float(ev_sum.sum() / max(ev_n.sum(), 1)))
            self.ev_sum, self.ev_n = np.zeros(k), np.zeros(k)
        if self.callback is not None and cfg.callback_every and done % cfg.callback_every == 0:
            seen = self.win_n > 0
            state_ = TrainState(done, w.copy(), np.where(seen, self.win_loss / np.maximum(self.win_n, 1), np.nan),
                                self.last_val, self.domains)
            new = self.callback(state_)
            if new is not None:
                new = np.asarray(new, dtype=float)
                if new.shape != (k,) or np.any(new < 0) or not math.isclose(new.sum(), 1.0, abs_tol=1e-6):
                    raise BomixError(f"callback returned bad weights {new}: need {k} non-negative, sum 1")
                self.override = new / new.sum()
            self.win_loss[:], self.win_n[:] = 0.0, 0.0
        if self.on_boundary is not None and done in cfg.save_at and done < cfg.steps:
            self.on_boundary(done)
        return True


def _json_metrics(metrics: dict[str, list[float]]) -> dict[str, list[float | None]]:
    """Metrics with NaN as None (strict JSON)."""
    return {m: [None if not math.isfinite(v) else v for v in vals] for m, vals in metrics.items()}
