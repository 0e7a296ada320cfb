"""`TrainerBackend`: real proxy runs of Llama models on prepared token shards (``backend=trainer``).

Space: the domains of the data manifest (their train token counts feed ``proportional`` and the
repetition cap), a ladder of scales (``cpu``, ``gpu`` or a mapping, see ``model.py``) with exact
parameter counts, and a step range whose longest run defines the learning-rate schedule.
Metrics: ``loss:<domain>`` (validation) for every domain, ``train_loss`` and ``train_loss:<domain>``
(token means since the previous evaluation); the default objective is the mean validation loss over
the domains. Cost: ``6 N tokens`` FLOPs (:class:`FlopsCost`) plus the extra FLOPs of an online
controller's signals; ``info`` also reports FLOPs, seconds, tokens, the realised mixture and
schedule, and a controller's ``output()``.

Online controllers (``RunSpec.controller``): built only from the allowlist of
:mod:`bomix.online`; see :mod:`.host` for the signals and their costs.

Continuation: every finished run leaves ``checkpoint_dir/<run_id>/`` (:mod:`.checkpoint`: tensors
loaded with ``weights_only=True``, the rest in JSON); a spec with ``resume_from`` continues that
checkpoint on the same schedule and data order (only the extra steps cost), and its curve includes
the earlier steps. A run on a mixture schedule also leaves ``<run_id>/step-<b>/`` at each phase boundary
``b``; a *branch* (``resume_from`` with ``resume_step=b`` before the parent's end, :mod:`bomix.campaign.branches`)
starts from it and trains steps ``b..steps`` on its own schedule. Run ids must be plain names; paths always
resolve inside ``checkpoint_dir``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bomix.backends.base import Backend
from bomix.backends.trainer import checkpoint as ckpt
from bomix.backends.trainer import host
from bomix.backends.trainer.model import build_model, count_params, resolve_ladder
from bomix.backends.trainer.shards import TokenData
from bomix.backends.trainer.train import TrainConfig, TrainOutput, resolve_device, train
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


def cpu_threads(threads: int | None = None) -> int:
    """Torch CPU threads of a CPU run: ``threads`` if given, else ``OMP_NUM_THREADS`` if set (an
    ``executor=process`` worker has it set to ``executor.threads``), else 1: the CPU ladder's models
    are too small to gain from more threads, which only cost time on shared cores
    (``benchmarks/trainer_threads.py``; README, "Training real proxies")."""
    if threads:
        return max(1, int(threads))
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return 1


def check_callback(fn: Callable | None) -> Callable | None:
    """A Python callable (or None); names of functions are not imported (use a controller instead)."""
    if fn is None or callable(fn):
        return fn
    raise BomixError(f"callback {fn!r} is not a Python callable: the trainer imports nothing by name; "
                     "use an online controller (RunSpec.controller / policy=<online method>) or pass a callable")


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
        threads: torch CPU threads per run (default on CPU: :func:`cpu_threads`, ``OMP_NUM_THREADS``
            if set, as ``executor=process`` sets it in each worker, else 1; on GPU: torch's choice).
        checkpoint_dir: where runs leave checkpoints (default: a temporary folder removed by
            ``close``; give a folder for continuation across resumed campaigns).
        callback / callback_every: a Python callable taking a ``TrainState`` and returning new
            ``(K,)`` weights or None, called every ``callback_every`` steps (from a user's own code;
            nothing is imported by name: online methods are controllers, ``RunSpec.controller``).
        val_batch_size: ``B_val``, validation windows of the gradient-dot validation batch
            (default: ``batch_size``).
        signal_eval_batches: validation batches (of up to 8 windows) per domain when a controller
            asks for validation losses.
        lower / upper / max_epochs: the problem's weight bounds and repetition cap (the YAML passes
            ``problem.lower`` etc.), so a controller's weights are projected onto the same space the
            policies see.
    """

    name = "trainer"
    supports_schedule = True
    supports_continuation = True
    supports_controller = True

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
        callback: Callable | None = None,
        callback_every: int = 0,
        val_batch_size: int | None = None,
        signal_eval_batches: int = 1,
        lower: Mapping[str, float] | Sequence[float] | None = None,
        upper: Mapping[str, float] | Sequence[float] | None = None,
        max_epochs: float | None = None,
    ):
        from bomix.extras import require

        require("transformers", "trainer", "backend=trainer")
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
                      tokens_per_step=tokens_per_step, lower=lower, upper=upper,
                      max_epochs=None if max_epochs is None else float(max_epochs))
        if target_scale is not None:
            space = space.with_constraints(target=Fidelity(target_scale, max_steps))
        self.space = space
        self.cost_model = FlopsCost(space, tokens_per_step)
        self.metrics = tuple([f"loss:{d}" for d in self.data.domains] + ["train_loss"]
                             + [f"train_loss:{d}" for d in self.data.domains])
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
        self.callback, self.callback_every = check_callback(callback), int(callback_every)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.signal_eval_batches = int(signal_eval_batches)
        if self.val_batch_size <= 0 or self.signal_eval_batches <= 0:
            raise BomixError("val_batch_size and signal_eval_batches must be > 0")
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
                "context": self.context, "eval_every": self.eval_every, "val_batch_size": self.val_batch_size,
                "signal_eval_batches": self.signal_eval_batches, **self.opt}

    def checkpoint_path(self, run_id: str, what: str = "run id") -> Path:
        """The checkpoint folder of run ``run_id`` (validated; always inside ``checkpoint_dir``)."""
        return ckpt.run_dir(self.checkpoint_dir, run_id, what)

    def signal_costs(self, spec: RunSpec):
        """Extra FLOPs of each controller signal, in training steps (see :func:`host.signal_costs`)."""
        return host.signal_costs(self, spec)

    def train_config(self, spec: RunSpec) -> TrainConfig:
        save_at = () if spec.schedule is None else tuple(int(s) for s in spec.schedule.starts[1:])
        return TrainConfig(steps=int(spec.steps), schedule_steps=self.space.max_steps, eval_every=self.eval_every,
                           seed=int(spec.seed or 0), device=self.device, precision=self.precision,
                           compile=self.compile, callback_every=self.callback_every, save_at=save_at, **self.opt)

    def run(self, spec: RunSpec, callback: Callable | None = None) -> RunResult:
        """Train ``spec`` (or continue ``spec.resume_from``); never raises for a bad run.

        Raises:
            BomixError: an unknown scale, or a run id / ``resume_from`` that is not a plain name.
        """
        import torch

        on_cpu = self.device == "cpu" or (self.device == "auto" and not torch.cuda.is_available())
        if self.threads or on_cpu:  # a GPU run keeps torch's choice unless told
            torch.set_num_threads(cpu_threads(self.threads))
        if spec.scale not in self.ladder:
            raise BomixError(f"unknown scale {spec.scale!r}: the ladder has {list(self.ladder)}")
        run_id = spec.run_id or f"run-{os.getpid()}-{id(spec)}"
        out_dir = self.checkpoint_path(run_id)
        resume = self.checkpoint_path(spec.resume_from, "resume_from") if spec.resume_from else None
        if spec.meta and spec.meta.get("callback"):
            return RunResult(spec, "failed", error="spec.meta['callback'] is not supported (nothing is imported "
                                                   "from a spec): use an online controller, RunSpec.controller")
        controller = getattr(spec, "controller", None)
        if controller is not None and (callback is not None or self.callback is not None):
            return RunResult(spec, "failed", error="a run takes a controller or a callback, not both")
        start = 0
        if resume is not None:
            if not ckpt.exists(resume):
                return RunResult(spec, "failed", error=f"checkpoint of run {spec.resume_from} not found at {resume}")
            try:
                saved = ckpt.load_state(resume)
                if spec.resume_step and int(saved["step"]) != int(spec.resume_step):  # a branch: a boundary
                    resume = ckpt.boundary(resume, int(spec.resume_step))
                    if not ckpt.exists(resume):
                        return RunResult(spec, "failed", error=f"run {spec.resume_from} has no checkpoint at step "
                                         f"{spec.resume_step} (only scheduled runs save their phase boundaries)")
                    saved = ckpt.load_state(resume)
            except ckpt.CheckpointError as exc:
                return RunResult(spec, "failed", error=str(exc))
            start = int(saved["step"])
            if start >= spec.steps:
                return RunResult(spec, "failed", error=f"run {spec.resume_from} already has {start} >= {spec.steps} steps")
            had = (saved.get("controller") or {}).get("config")
            want = host.config_json(controller)
            if had != want:
                return RunResult(spec, "failed", error=f"run {spec.resume_from} was trained with controller {had} but "
                                                       f"this continuation carries {want}: a continuation must carry "
                                                       "the same controller")
        cfg = self.train_config(spec)
        try:
            online = host.build_online(self, spec, resolve_device(cfg.device))
        except BomixError as exc:
            return RunResult(spec, "failed", error=str(exc).splitlines()[0])
        model = build_model(self.ladder[spec.scale], self.data.vocab_size, self.context, cfg.seed,
                            eos_id=self.data.eos_id, pad_id=self.data.pad_id)
        if spec.schedule is not None:
            mixture_at = lambda t: spec.schedule.at(t).weights  # noqa: E731
        else:
            mixture_at = lambda t: spec.mixture.weights  # noqa: E731
        try:
            out = train(model, self.batcher(), cfg, mixture_at, resume=resume, checkpoint=out_dir,
                        callback=None if online is not None else check_callback(callback or self.callback),
                        online=online, save_meta={"scale": spec.scale, "shape": self.ladder[spec.scale],
                                                  "run_id": run_id})
        except ckpt.CheckpointError as exc:
            return RunResult(spec, "failed", error=str(exc))
        return self._result(spec, out, start, online, out_dir)

    def _result(self, spec: RunSpec, out: TrainOutput, start: int, online: host.OnlineRun | None,
                out_dir: Path) -> RunResult:
        curve = Curve(np.asarray(out.steps, dtype=np.int64), {m: np.asarray(v) for m, v in out.metrics.items()})
        counts = out.domain_counts if out.domain_counts is not None else np.zeros(self.space.k)
        done = out.last_step if out.status != "ok" else spec.steps
        n = self.params[spec.scale]
        step_flops = 6.0 * n * self.batch_size * self.context
        flops = step_flops * max(done - start, 0)
        extra = 0.0 if online is None else host.signal_flops(online, self.signal_costs(spec), step_flops)
        info = {
            "params": n, "flops": flops + extra, "extra_flops": extra, "seconds": out.seconds,
            "cpu_seconds": out.cpu_seconds, "tokens": out.tokens,
            "realized_mixture": (counts / counts.sum()).tolist() if counts.sum() else None,
            "weight_log": out.weight_log, "schedule": _schedule(out.weight_log), "start_step": start,
            "checkpoint": str(out_dir) if spec.run_id else None,
        }
        if online is not None:
            info["controller"] = online.controller.output()
            info["signal_requests"] = dict(online.requests)
        cost = self.cost_model(spec.scale, done, start) + extra / self.cost_model.target_raw
        return RunResult(spec, out.status, curve=curve, cost=cost, wall_time=out.seconds, error=out.error, info=info)

    def save_pretrained(self, run_id: str, out: str | Path, scale: str | None = None) -> Path:
        """Write run ``run_id``'s final model and the tokenizer as a Hugging Face folder (for SFT).

        Args:
            run_id: a finished run of this backend.
            out: output folder (``from_pretrained(out)`` loads it).
            scale: the run's scale (default: read from the checkpoint's weights).
        """
        path = self.checkpoint_path(run_id)
        if not ckpt.exists(path):
            raise BomixError(f"no checkpoint for run {run_id} at {path}")
        state = ckpt.load_tensors(path, "cpu")["model"]
        if scale is None:
            scale = ckpt.load_state(path).get("scale")
            scale = scale if scale in self.ladder else None
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


def _schedule(weight_log: list) -> dict | None:
    """The realised schedule (``MixtureSchedule.to_dict`` form) of a run's weight log."""
    if not weight_log:
        return None
    return {"starts": [int(s) for s, _ in weight_log], "mixtures": [list(w) for _, w in weight_log]}
