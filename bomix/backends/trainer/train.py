"""The training loop, nanoGPT-style: one function a person can read in one sitting.

It is shared by pretraining (:class:`PackedBatcher`: packed sequences sampled from per-domain token
shards by the mixture) and fine-tuning (``sft.SFTBatcher``). Per step ``t``:

1. ``w = mixture_at(t)`` (static mixture, a schedule, or the last weights a callback returned);
2. a batch drawn by a generator seeded with ``(seed, t)``, so a continued run sees exactly the
   batches an uninterrupted one would;
3. AdamW at ``lr(t)``: linear warm-up, then cosine to ``min_lr_ratio * lr`` at ``schedule_steps``
   (the longest run of the ladder), so every shorter run is a truncation of the same schedule;
4. every ``eval_every`` steps (and at the end): mean token loss on each domain's fixed
   validation sequences -> ``loss:<domain>``, plus ``train_loss`` since the last evaluation;
5. every ``callback_every`` steps: ``callback(state)`` may return new weights (online methods).

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

from bomix.errors import BomixError


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


def _token_losses(model, input_ids, labels):
    """``(B, T)`` per-token cross-entropy (0 where ``labels == -100``) and the ``(B, T)`` mask."""
    import torch.nn.functional as F

    logits = model(input_ids=input_ids).logits
    mask = labels != -100
    loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100,
                           reduction="none").view_as(labels)
    return loss * mask, mask


def evaluate(model, batcher: Batcher, device: str, autocast) -> np.ndarray:
    """``(K,)`` mean token loss on each domain's fixed validation batches."""
    import torch

    out = np.zeros(len(batcher.domains))
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast():
        for k, d in enumerate(batcher.domains):
            total, count = 0.0, 0
            for x, y in batcher.val_batches(d):
                loss, mask = _token_losses(model, x.to(device), y.to(device))
                total += float(loss.sum())
                count += int(mask.sum())
            out[k] = total / max(count, 1)
    model.train(was_training)
    return out


def train(
    model,
    batcher: Batcher,
    cfg: TrainConfig,
    mixture_at: Callable[[int], np.ndarray],
    *,
    resume: Path | None = None,
    checkpoint: Path | None = None,
    callback: Callable[[TrainState], Any] | None = None,
) -> TrainOutput:
    """Train ``model`` to ``cfg.steps`` (from the checkpoint ``resume`` if given).

    Args:
        model: a causal LM (``model(input_ids=...).logits``: ``(B, T, V)``).
        batcher: training and validation batches.
        cfg: settings.
        mixture_at: step -> ``(K,)`` weights in force at that step.
        resume: a checkpoint written by an earlier call (continue from its step).
        checkpoint: where to write the final checkpoint (model, optimiser, curve, counters).
        callback: called every ``cfg.callback_every`` steps; may return new ``(K,)`` weights.

    Returns:
        :class:`TrainOutput` with the learning curve and status (never raises for a bad run).
    """
    import torch

    device = resolve_device(cfg.device)
    cuda = device.startswith("cuda")
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def autocast():
        if not use_bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)

    k = len(batcher.domains)
    out = TrainOutput(status="ok", metrics={**{f"loss:{d}": [] for d in batcher.domains}, "train_loss": []})
    model.to(device)
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=cuda)
    counts = np.zeros(k)
    prev_seconds = 0.0
    override: np.ndarray | None = None
    start = 0
    if resume is not None:
        state = torch.load(resume, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        start = int(state["step"])
        out.steps, out.metrics = list(state["steps"]), {m: list(v) for m, v in state["metrics"].items()}
        counts = np.asarray(state["counts"], dtype=float)
        override = None if state.get("override") is None else np.asarray(state["override"])
        out.weight_log = [tuple(x) for x in state.get("weight_log", [])]
        prev_seconds = float(state.get("seconds", 0.0))
    fwd = torch.compile(model) if (cfg.compile and cuda) else model
    win_loss, win_n = np.zeros(k), np.zeros(k)  # per-domain train loss since the last callback
    ev_loss, ev_n = 0.0, 0  # train loss since the last evaluation
    last_val: np.ndarray | None = None
    t0 = time.perf_counter()
    step = start
    try:
        for step in range(start, cfg.steps):
            w = override if override is not None else np.asarray(mixture_at(step), dtype=float)
            if not out.weight_log or not np.allclose(out.weight_log[-1][1], w):
                out.weight_log.append((step, [float(x) for x in w]))
            rng = np.random.default_rng([cfg.seed, step])
            x, y, dom = batcher.batch(step, w, rng)
            for g in opt.param_groups:
                g["lr"] = cfg.lr_at(step)
            with autocast():
                tok_loss, mask = _token_losses(fwd, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
            n_tok = mask.sum()
            loss = tok_loss.sum() / n_tok.clamp(min=1)
            if not torch.isfinite(loss):
                out.status, out.error = "diverged", f"loss became {loss.item()} at step {step + 1}"
                break
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            seq_loss = (tok_loss.sum(1) / mask.sum(1).clamp(min=1)).detach().float().cpu().numpy()
            np.add.at(win_loss, dom, seq_loss)
            np.add.at(win_n, dom, 1)
            counts += np.bincount(dom, minlength=k)
            ev_loss, ev_n = ev_loss + loss.item(), ev_n + 1
            out.tokens += int(n_tok)
            done = step + 1
            if done % cfg.eval_every == 0 or done == cfg.steps:
                last_val = evaluate(model, batcher, device, autocast)
                if not np.all(np.isfinite(last_val)):
                    out.status, out.error = "diverged", f"validation loss became non-finite at step {done}"
                    break
                out.steps.append(done)
                for j, d in enumerate(batcher.domains):
                    out.metrics[f"loss:{d}"].append(float(last_val[j]))
                out.metrics["train_loss"].append(ev_loss / max(ev_n, 1))
                ev_loss, ev_n = 0.0, 0
            if callback is not None and cfg.callback_every and done % cfg.callback_every == 0:
                seen = win_n > 0
                state_ = TrainState(done, w.copy(), np.where(seen, win_loss / np.maximum(win_n, 1), np.nan),
                                    last_val, tuple(batcher.domains))
                new = callback(state_)
                if new is not None:
                    new = np.asarray(new, dtype=float)
                    if new.shape != (k,) or np.any(new < 0) or not math.isclose(new.sum(), 1.0, abs_tol=1e-6):
                        raise BomixError(f"callback returned bad weights {new}: need {k} non-negative, sum 1")
                    override = new / new.sum()
                win_loss[:], win_n[:] = 0.0, 0.0
        else:
            step = cfg.steps
    except Exception as exc:  # noqa: BLE001 - a bad run must not stop the campaign
        if not _is_oom(exc):
            raise
        out.status, out.error = "failed", f"out of memory at step {step + 1}: {str(exc).splitlines()[0][:200]}"
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.empty_cache()
    out.seconds = time.perf_counter() - t0
    out.domain_counts = counts
    out.last_step = step
    if out.status == "ok" and checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": cfg.steps,
                    "steps": out.steps, "metrics": out.metrics, "counts": counts.tolist(),
                    "override": None if override is None else override.tolist(),
                    "weight_log": out.weight_log, "seconds": prev_seconds + out.seconds}, checkpoint)
    return out
