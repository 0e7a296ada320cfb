"""Fine-tuning (SFT) mode: the setting of the Li, Liu, Xing SFT mixing law.

- Scale axis: a ladder of pretrained causal LMs on disk (``models: {name: path}``, loaded with
  ``from_pretrained(path, local_files_only=True)``), e.g. one family at several sizes.
- Data: per-domain instruction data, JSONL of ``{"prompt", "response"}`` pairs or
  ``{"messages": [{"role", "content"}, ...]}`` (last message = the assistant's answer), rendered
  with the tokenizer's chat template (a plain default template when it has none). The loss is on
  the answer tokens only (prompt and padding labels are -100).
- Second fidelity: the data budget. A run of ``steps`` steps trains on ``steps * batch_size``
  examples (``info["tokens"]`` counts the answer tokens actually trained on); examples are drawn
  by the mixture, each domain with replacement from its training split.
- Metrics: ``loss:<domain>`` = mean answer-token loss on each domain's fixed validation examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bomix.backends.base import Backend
from bomix.backends.trainer import checkpoint as ckpt
from bomix.backends.trainer.sources import jsonl_records
from bomix.backends.trainer.train import TrainConfig, train
from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Scale, Space

DEFAULT_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def read_examples(path: str | Path) -> list[list[dict]]:
    """One domain's JSONL -> list of chat message lists (last one from the assistant)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise BomixError(f"SFT data {p} not found: give a JSONL file of prompt/response or messages records")
    out = []
    for i, rec in jsonl_records(p.read_text(encoding="utf-8"), p):
        if isinstance(rec, dict) and "messages" in rec:
            msgs = rec["messages"]
        elif isinstance(rec, dict) and "prompt" in rec and "response" in rec:
            msgs = [{"role": "user", "content": str(rec["prompt"])},
                    {"role": "assistant", "content": str(rec["response"])}]
        else:
            raise BomixError(f"{p}:{i}: need prompt/response or messages fields")
        if not msgs or msgs[-1].get("role") != "assistant":
            raise BomixError(f"{p}:{i}: the last message must be the assistant's answer")
        out.append(msgs)
    if len(out) < 2:
        raise BomixError(f"{p} has {len(out)} example(s): need >= 2 (train and validation)")
    return out


def _ids(x) -> list[int]:
    if isinstance(x, Mapping) or hasattr(x, "keys"):
        x = x["input_ids"]
    return [int(t) for t in x]


def render(tokenizer, messages: Sequence[dict], max_len: int) -> tuple[list[int], list[int]]:
    """Chat-template tokens and labels (``-100`` on the prompt), truncated to ``max_len``."""
    full = _ids(tokenizer.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=False))
    prefix = _ids(tokenizer.apply_chat_template(list(messages[:-1]), tokenize=True, add_generation_prompt=True))
    if full[: len(prefix)] != prefix:
        raise BomixError("the chat template renders the prompt differently with and without the answer")
    labels = [-100] * len(prefix) + full[len(prefix):]
    return full[:max_len], labels[:max_len]


class SFTBatcher:
    """Padded batches of rendered examples sampled by the mixture (answer-only labels)."""

    def __init__(self, tokenizer, data: Mapping[str, Sequence[Sequence[dict]]], batch_size: int, max_len: int,
                 val_fraction: float = 0.1, seed: int = 0):
        self.domains = tuple(data)
        self.batch_size, self.max_len = int(batch_size), int(max_len)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
        self.train_ex: dict[str, list] = {}
        self.val_ex: dict[str, list] = {}
        for k, (d, examples) in enumerate(data.items()):
            rendered = [render(tokenizer, m, self.max_len) for m in examples]
            rendered = [r for r in rendered if any(t != -100 for t in r[1][1:])]
            if len(rendered) < 2:
                raise BomixError(f"SFT domain {d!r}: fewer than 2 examples keep answer tokens within max_len={max_len}")
            order = np.random.default_rng([seed, k]).permutation(len(rendered))
            n_val = max(1, int(round(val_fraction * len(rendered))))
            self.val_ex[d] = [rendered[i] for i in sorted(order[:n_val])]
            self.train_ex[d] = [rendered[i] for i in sorted(order[n_val:])]
        self._val: dict[str, list] = {}

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.max_len

    def _pad(self, rows: Sequence[tuple[list[int], list[int]]]):
        import torch

        t = max(len(r[0]) for r in rows)
        x = torch.full((len(rows), t), self.pad_id, dtype=torch.long)
        y = torch.full((len(rows), t), -100, dtype=torch.long)
        for i, (ids, lab) in enumerate(rows):
            x[i, : len(ids)] = torch.tensor(ids)
            y[i, : len(lab) - 1] = torch.tensor(lab[1:])  # predict token j+1 from position j
        return x, y

    def batch(self, step: int, weights: np.ndarray, rng: np.random.Generator):
        b = self.batch_size
        cdf = np.cumsum(weights)
        cdf[-1] = 1.0
        dom = np.minimum(np.searchsorted(cdf, (rng.random() + np.arange(b)) / b, side="right"), len(cdf) - 1)
        rows = []
        for k in dom:
            ex = self.train_ex[self.domains[k]]
            rows.append(ex[int(rng.integers(len(ex)))])
        x, y = self._pad(rows)
        return x, y, dom

    def val_batches(self, domain: str) -> list:
        if domain not in self._val:
            ex = self.val_ex[domain]
            self._val[domain] = [self._pad(ex[i: i + 8]) for i in range(0, len(ex), 8)]
        return self._val[domain]


def count_model_params(path: str | Path) -> int:
    """Parameters of a local checkpoint, counted on the meta device (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        cfg = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise BomixError(f"cannot read model config at {path}: {str(exc).splitlines()[0]}") from None
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return int(sum(p.numel() for p in model.parameters()))


class SFTBackend(Backend):
    """Fine-tunes local pretrained checkpoints on per-domain instruction data (module docstring).

    Args:
        models: scale name -> local checkpoint folder (one tokenizer for all; from ``tokenizer`` or
            the first model's folder).
        data: domain -> JSONL path (the mixture order is this order).
        min_steps / max_steps / step_grid: data-budget range in steps of ``batch_size`` examples.
        batch_size / max_len / val_fraction / eval_every: batches and evaluation.
        lr / min_lr_ratio / warmup / weight_decay: optimisation (schedule over ``max_steps``).
        device / precision: see :class:`TrainConfig`.
        checkpoint_dir: run checkpoints (continuation); default a temporary folder.
    """

    name = "sft"
    supports_schedule = True
    supports_continuation = True

    def __init__(self, models: Mapping[str, str], data: Mapping[str, str], tokenizer: str | None = None,
                 min_steps: int = 10, max_steps: int = 200, step_grid: Sequence[int] | None = None,
                 batch_size: int = 8, max_len: int = 256, val_fraction: float = 0.1, eval_every: int = 10,
                 lr: float = 1e-4, min_lr_ratio: float = 0.1, warmup: int = 0, weight_decay: float = 0.0,
                 device: str = "auto", precision: str = "auto", checkpoint_dir: str | None = None, seed: int = 0):
        import tempfile

        from bomix.backends.trainer.tokenizer import load_tokenizer

        if not models or not data:
            raise BomixError("the SFT backend needs models {scale: path} and data {domain: jsonl}")
        self.models = {str(k): str(Path(v).expanduser()) for k, v in models.items()}
        self.data_paths = {str(k): str(Path(v).expanduser()) for k, v in data.items()}
        self.tokenizer_path = tokenizer or next(iter(self.models.values()))
        tok = load_tokenizer(self.tokenizer_path)
        if not getattr(tok, "chat_template", None):
            tok.chat_template = DEFAULT_CHAT_TEMPLATE
        self.tokenizer = tok
        examples = {d: read_examples(p) for d, p in self.data_paths.items()}
        self.sft_batcher = SFTBatcher(tok, examples, batch_size, max_len, val_fraction, seed)
        self.params = {n: count_model_params(p) for n, p in self.models.items()}
        tps = self.sft_batcher.tokens_per_step
        self.space = Space(domains=tuple(self.data_paths), scales=[Scale(n, float(v)) for n, v in self.params.items()],
                           min_steps=min_steps, max_steps=max_steps, step_grid=step_grid,
                           tokens=np.array([sum(len(x) for x, _ in self.sft_batcher.train_ex[d])
                                            for d in self.data_paths], float),
                           tokens_per_step=tps)
        self.cost_model = FlopsCost(self.space, tps)
        self.metrics = tuple([f"loss:{d}" for d in self.space.domains] + ["train_loss"]
                             + [f"train_loss:{d}" for d in self.space.domains])
        self.default_objective = Objective.mean([f"loss:{d}" for d in self.space.domains], name="mean_val_loss")
        self.eval_every = int(eval_every)
        self.opt = dict(lr=float(lr), min_lr_ratio=float(min_lr_ratio), warmup=int(warmup),
                        weight_decay=float(weight_decay))
        self.device, self.precision = device, precision
        self._tmp = None if checkpoint_dir else tempfile.mkdtemp(prefix="bomix-sft-")
        self.checkpoint_dir = str(checkpoint_dir or self._tmp)

    def run(self, spec: RunSpec) -> RunResult:
        from transformers import AutoModelForCausalLM

        if spec.scale not in self.models:
            raise BomixError(f"unknown scale {spec.scale!r}: the SFT ladder has {list(self.models)}")
        resume, start = None, 0
        if spec.resume_from:
            resume = ckpt.run_dir(self.checkpoint_dir, spec.resume_from, "resume_from")
            if not ckpt.exists(resume):
                return RunResult(spec, "failed", error=f"checkpoint of run {spec.resume_from} not found at {resume}")
            start = spec.start_step
        model = AutoModelForCausalLM.from_pretrained(self.models[spec.scale], local_files_only=True)
        cfg = TrainConfig(steps=int(spec.steps), schedule_steps=self.space.max_steps, eval_every=self.eval_every,
                          seed=int(spec.seed or 0), device=self.device, precision=self.precision, **self.opt)
        sched = spec.schedule
        mixture_at = (lambda t: sched.at(t).weights) if sched is not None else (lambda t: spec.mixture.weights)
        out = train(model, self.sft_batcher, cfg, mixture_at, resume=resume,
                    checkpoint=ckpt.run_dir(self.checkpoint_dir, spec.run_id or "last"))
        curve = Curve(np.asarray(out.steps, dtype=np.int64), {m: np.asarray(v) for m, v in out.metrics.items()})
        done = out.last_step if out.status != "ok" else spec.steps
        counts = out.domain_counts
        info = {"params": self.params[spec.scale], "tokens": out.tokens, "seconds": out.seconds,
                "examples": int(max(done - start, 0) * self.sft_batcher.batch_size),
                "realized_mixture": (counts / counts.sum()).tolist() if counts is not None and counts.sum() else None}
        return RunResult(spec, out.status, curve=curve, cost=self.cost_model(spec.scale, done, start),
                         wall_time=out.seconds, error=out.error, info=info)

    def close(self) -> None:
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
