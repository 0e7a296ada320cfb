"""`TrainerBackend`: real proxy runs of Llama models on prepared token shards (``backend=trainer``).

Space: the domains of the data manifest (their train token counts feed ``proportional`` and the
repetition cap), a ladder of scales (``cpu``, ``gpu`` or a mapping, see ``model.py``) with exact
parameter counts, and a step range whose longest run defines the learning-rate schedule.
Metrics: ``loss:<domain>`` (validation) for every domain and ``train_loss``; the default objective
is the mean validation loss over the domains. Cost: ``6 N tokens`` FLOPs (:class:`FlopsCost`);
``info`` also reports FLOPs, seconds, tokens and the realised mixture.

Continuation: every finished run leaves ``checkpoint_dir/<run_id>/ckpt.pt``; a spec with
``resume_from`` continues that checkpoint on the same schedule and data order (only the extra
steps cost), and its curve includes the earlier steps.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bomix.backends.base import Backend
from bomix.backends.trainer.data import TokenData
from bomix.backends.trainer.model import build_model, count_params, resolve_ladder
from bomix.backends.trainer.train import TrainConfig, TrainOutput, train
from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Fidelity, Scale, Space


class PackedBatcher:
    """Packed ``context``-token windows of the domains' token shards, sampled by the mixture.

    Sequence ``b`` of a step comes from domain ``searchsorted(cumsum(w), (u + b) / B)`` (systematic
    sampling: each domain gets ``B w_i`` sequences up to one), at a uniform random offset.

    Args:
        data: the prepared shards.
        batch_size / context: ``B`` and ``T``.
        eval_sequences: fixed validation windows per domain.
    """

    def __init__(self, data: TokenData, batch_size: int, context: int, eval_sequences: int = 16):
        self.data, self.batch_size, self.context = data, int(batch_size), int(context)
        self.domains = data.domains
        self.eval_sequences = int(eval_sequences)
        self._val: dict[str, list] = {}
        for d in self.domains:
            n_train, n_val = len(data.shard(d, "train")), len(data.shard(d, "val"))
            if n_train < self.context + 2:
                raise BomixError(f"domain {d!r} has {n_train} training tokens, fewer than context+2: add data")
            if n_val < self.context + 1:
                raise BomixError(f"validation split of domain {d!r} has {n_val} tokens < context+1="
                                 f"{self.context + 1}: re-run `bomix data prepare` with a larger --val-fraction")

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    def batch(self, step: int, weights: np.ndarray, rng: np.random.Generator):
        import torch

        b, t = self.batch_size, self.context
        cdf = np.cumsum(weights)
        cdf[-1] = 1.0
        dom = np.searchsorted(cdf, (rng.random() + np.arange(b)) / b, side="right")
        dom = np.minimum(dom, len(cdf) - 1)
        rows = np.empty((b, t + 1), dtype=np.int64)
        for i, k in enumerate(dom):
            shard = self.data.shard(self.domains[k], "train")
            off = int(rng.integers(0, len(shard) - t - 1))
            rows[i] = shard[off: off + t + 1]
        rows_t = torch.from_numpy(rows)
        return rows_t[:, :-1], rows_t[:, 1:].clone(), dom

    def val_batches(self, domain: str) -> list:
        import torch

        if domain not in self._val:
            shard = self.data.shard(domain, "val")
            t = self.context
            n = min(self.eval_sequences, len(shard) // (t + 1))
            rows = torch.from_numpy(np.asarray(shard[: n * (t + 1)], dtype=np.int64).reshape(n, t + 1))
            self._val[domain] = [(rows[i: i + 8, :-1], rows[i: i + 8, 1:]) for i in range(0, n, 8)]
        return self._val[domain]


def load_callable(spec: str | Callable | None) -> Callable | None:
    """``"package.module:function"`` (or a callable) -> the callable."""
    if spec is None or callable(spec):
        return spec
    if ":" not in spec:
        raise BomixError(f"callback {spec!r}: write it as package.module:function")
    mod, fn = spec.split(":", 1)
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise BomixError(f"cannot load callback {spec!r}: {exc}") from None


class TrainerBackend(Backend):
    """Trains real proxy models (see module docstring).

    Args:
        data_dir: output of ``bomix data prepare`` / ``bomix data demo``.
        ladder: ``cpu`` | ``gpu`` | mapping scale name -> model shape.
        scales: optional subset (and order is irrelevant) of the ladder's scale names to use.
        min_steps / max_steps: step range; ``max_steps`` is the length of the lr schedule.
        step_grid: step counts policies choose from (default: the space's default grid).
        target_scale: scale of the target fidelity (default: the largest).
        eval_every: evaluation interval (steps).
        batch_size / context: sequences per step and tokens per sequence.
        eval_sequences: validation windows of ``context`` tokens per domain.
        lr / min_lr_ratio / warmup / weight_decay / grad_clip: optimisation.
        device / precision / compile: see :class:`TrainConfig`.
        threads: torch CPU threads per run (default: leave torch's choice).
        checkpoint_dir: where runs leave checkpoints (default: a temporary folder removed by
            ``close``; give a folder for continuation across resumed campaigns).
        callback / callback_every: online hook ``"module:function"`` taking a ``TrainState`` and
            returning new ``(K,)`` weights or None. A spec can carry its own hook in ``spec.meta``:
            ``{"callback": "module:function", "callback_every": k, "callback_kwargs": {...}}``
            (an online policy's state then travels with the spec and is stored with it).
    """

    name = "trainer"
    supports_schedule = True
    supports_continuation = True

    def __init__(
        self,
        data_dir: str,
        ladder: str | Mapping | None = "cpu",
        scales: Sequence[str] | None = None,
        min_steps: int = 100,
        max_steps: int = 1000,
        step_grid: Sequence[int] | None = None,
        target_scale: str | None = None,
        eval_every: int = 100,
        batch_size: int = 16,
        context: int = 128,
        eval_sequences: int = 16,
        lr: float = TrainConfig.lr,
        min_lr_ratio: float = TrainConfig.min_lr_ratio,
        warmup: int = TrainConfig.warmup,
        weight_decay: float = TrainConfig.weight_decay,
        grad_clip: float = TrainConfig.grad_clip,
        device: str = "auto",
        precision: str = "auto",
        compile: bool = False,
        threads: int | None = None,
        checkpoint_dir: str | None = None,
        callback: str | None = None,
        callback_every: int = 0,
    ):
        self.data_dir = str(Path(data_dir).expanduser().resolve())
        self.data = TokenData(self.data_dir)
        self.ladder = resolve_ladder(ladder)
        if scales:
            unknown = [s for s in scales if s not in self.ladder]
            if unknown:
                raise BomixError(f"unknown scale(s) {unknown}: the ladder has {list(self.ladder)}")
            self.ladder = {s: self.ladder[s] for s in scales}
        if eval_every <= 0 or batch_size <= 0 or context <= 1:
            raise BomixError("eval_every, batch_size must be > 0 and context > 1")
        for name, shape in self.ladder.items():
            hd = shape["hidden_size"] // shape["num_attention_heads"]
            if hd % 2:
                raise BomixError(f"scale {name!r}: head_dim {hd} must be even (rotary embeddings)")
        vocab = self.data.vocab_size
        self.params = {n: count_params(s, vocab) for n, s in self.ladder.items()}
        tokens_per_step = batch_size * context
        space = Space(domains=self.data.domains, scales=[Scale(n, float(p)) for n, p in self.params.items()],
                      min_steps=min_steps, max_steps=max_steps, step_grid=step_grid,
                      tokens=np.array([self.data.tokens()[d] for d in self.data.domains], dtype=float),
                      tokens_per_step=tokens_per_step)
        if target_scale is not None:
            space = space.with_constraints(target=Fidelity(target_scale, max_steps))
        self.space = space
        self.cost_model = FlopsCost(space, tokens_per_step)
        self.metrics = tuple([f"loss:{d}" for d in self.data.domains] + ["train_loss"])
        self.default_objective = Objective.mean([f"loss:{d}" for d in self.data.domains], name="mean_val_loss")
        self.eval_every, self.batch_size, self.context = int(eval_every), int(batch_size), int(context)
        self.eval_sequences = int(eval_sequences)
        self.opt = dict(lr=float(lr), min_lr_ratio=float(min_lr_ratio), warmup=int(warmup),
                        weight_decay=float(weight_decay), grad_clip=float(grad_clip))
        self.device, self.precision, self.compile = device, precision, bool(compile)
        self.threads = threads
        self._tmp = None
        if checkpoint_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="bomix-ckpt-")
            checkpoint_dir = self._tmp
        self.checkpoint_dir = str(Path(checkpoint_dir).expanduser().resolve())
        self.callback, self.callback_every = callback, int(callback_every)
        load_callable(callback)  # fail early on a bad path
        self._batcher: PackedBatcher | None = None
        self.batcher()  # validate shard sizes now

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d["_batcher"] = None
        return d

    def batcher(self) -> PackedBatcher:
        if self._batcher is None:
            self._batcher = PackedBatcher(self.data, self.batch_size, self.context, self.eval_sequences)
        return self._batcher

    def describe(self) -> dict:
        return {"name": self.name, "metrics": list(self.metrics), "data_dir": self.data_dir,
                "ladder": self.ladder, "params": self.params, "batch_size": self.batch_size,
                "context": self.context, "eval_every": self.eval_every, **self.opt}

    def checkpoint_path(self, run_id: str) -> Path:
        return Path(self.checkpoint_dir) / str(run_id) / "ckpt.pt"

    def train_config(self, spec: RunSpec) -> TrainConfig:
        return TrainConfig(steps=int(spec.steps), schedule_steps=self.space.max_steps, eval_every=self.eval_every,
                           seed=int(spec.seed or 0), device=self.device, precision=self.precision,
                           compile=self.compile, callback_every=self.callback_every, **self.opt)

    def run(self, spec: RunSpec, callback: Callable | None = None) -> RunResult:
        """Train ``spec`` (or continue ``spec.resume_from``); never raises for a bad run."""
        import torch

        if self.threads:
            torch.set_num_threads(int(self.threads))
        if spec.scale not in self.ladder:
            raise BomixError(f"unknown scale {spec.scale!r}: the ladder has {list(self.ladder)}")
        run_id = spec.run_id or f"run-{os.getpid()}-{id(spec)}"
        resume = None
        start = 0
        if spec.resume_from:
            resume = self.checkpoint_path(spec.resume_from)
            if not resume.exists():
                return RunResult(spec, "failed", error=f"checkpoint of run {spec.resume_from} not found at {resume}")
            start = int(torch.load(resume, map_location="cpu", weights_only=False)["step"])
            if start >= spec.steps:
                return RunResult(spec, "failed", error=f"run {spec.resume_from} already has {start} >= {spec.steps} steps")
        cfg = self.train_config(spec)
        meta = dict(spec.meta or {})
        if callback is None and meta.get("callback"):  # an online policy's hook, carried by the spec
            fn = load_callable(meta["callback"])
            kwargs = dict(meta.get("callback_kwargs") or {})
            callback = (lambda state: fn(state, **kwargs)) if kwargs else fn
            cfg.callback_every = int(meta.get("callback_every", cfg.callback_every) or 0)
            if cfg.callback_every <= 0:
                return RunResult(spec, "failed", error="spec.meta has a callback but no callback_every > 0")
        model = build_model(self.ladder[spec.scale], self.data.vocab_size, self.context, cfg.seed,
                            eos_id=self.data.eos_id, pad_id=self.data.pad_id)
        if spec.schedule is not None:
            mixture_at = lambda t: spec.schedule.at(t).weights  # noqa: E731
        else:
            mixture_at = lambda t: spec.mixture.weights  # noqa: E731
        out = train(model, self.batcher(), cfg, mixture_at, resume=resume,
                    checkpoint=self.checkpoint_path(run_id),
                    callback=callback or load_callable(self.callback))
        return self._result(spec, out, start)

    def _result(self, spec: RunSpec, out: TrainOutput, start: int) -> RunResult:
        curve = Curve(np.asarray(out.steps, dtype=np.int64), {m: np.asarray(v) for m, v in out.metrics.items()})
        counts = out.domain_counts if out.domain_counts is not None else np.zeros(self.space.k)
        done = out.last_step if out.status != "ok" else spec.steps
        n = self.params[spec.scale]
        flops = 6.0 * n * max(done - start, 0) * self.batch_size * self.context
        info = {
            "params": n, "flops": flops, "seconds": out.seconds, "tokens": out.tokens,
            "realized_mixture": (counts / counts.sum()).tolist() if counts.sum() else None,
            "weight_log": out.weight_log, "start_step": start, "checkpoint": str(self.checkpoint_path(spec.run_id))
            if spec.run_id else None,
        }
        return RunResult(spec, out.status, curve=curve, cost=self.cost_model(spec.scale, done, start),
                         wall_time=out.seconds, error=out.error, info=info)

    def save_pretrained(self, run_id: str, out: str | Path, scale: str | None = None) -> Path:
        """Write run ``run_id``'s final model and the tokenizer as a Hugging Face folder (for SFT).

        Args:
            run_id: a finished run of this backend.
            out: output folder (``from_pretrained(out)`` loads it).
            scale: the run's scale (default: read from the checkpoint's weights).
        """
        import torch

        ckpt = self.checkpoint_path(run_id)
        if not ckpt.exists():
            raise BomixError(f"no checkpoint for run {run_id} at {ckpt}")
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
        if scale is None:
            d = state["model.embed_tokens.weight"].shape[1]
            n_layers = len({k.split(".")[2] for k in state if k.startswith("model.layers.")})
            match = [n for n, s in self.ladder.items()
                     if s["hidden_size"] == d and s["num_hidden_layers"] == n_layers]
            if len(match) != 1:
                raise BomixError(f"cannot tell the scale of run {run_id}: pass scale=")
            scale = match[0]
        model = build_model(self.ladder[scale], self.data.vocab_size, self.context, 0,
                            eos_id=self.data.eos_id, pad_id=self.data.pad_id)
        model.load_state_dict(state)
        out = Path(out)
        model.save_pretrained(str(out))
        self.data.tokenizer().save_pretrained(str(out))
        return out

    def close(self) -> None:
        """Remove the temporary checkpoint folder (an explicit ``checkpoint_dir`` is kept)."""
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
