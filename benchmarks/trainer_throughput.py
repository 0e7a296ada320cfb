"""Trainer throughput: tokens/s and model FLOPs utilisation (MFU) per ladder scale.

Runs the real training loop (``bomix.backends.trainer.train.train``) on random tokens, so no corpus
is needed, and times ``--steps`` steps after ``--warmup-steps`` untimed ones.

    FLOPs per token = 6 N  +  12 L d T        (N params incl. embeddings; attention term as in PaLM)
    MFU             = tokens/s x FLOPs per token / peak FLOP/s

Peak FLOP/s: ``--peak-tflops``, else the dense bf16 peak of a known CUDA device (989 TFLOP/s for
H100/H200 SXM); on CPU MFU is reported only when ``--peak-tflops`` is given. Writes ``benchmarks/results/trainer_throughput_<device>.json``.

    python benchmarks/trainer_throughput.py                         # CPU ladder, 200 steps of 16 x 128
    python benchmarks/trainer_throughput.py --ladder gpu --scales 150M --batch 32 --context 1024 --steps 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bomix.backends.trainer.model import build_model, count_params, resolve_ladder  # noqa: E402
from bomix.backends.trainer.train import TrainConfig, resolve_device, train  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


class RandomBatcher:
    """Uniform random tokens (one domain), fixed validation batch."""

    def __init__(self, vocab: int, batch: int, context: int):
        self.vocab, self.batch_size, self.context = vocab, batch, context
        self.domains = ("random",)
        g = torch.Generator().manual_seed(0)
        val = torch.randint(0, vocab, (8, context + 1), generator=g)
        self._val = [(val[:, :-1], val[:, 1:])]

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    def batch(self, step, weights, rng):
        rows = torch.from_numpy(rng.integers(0, self.vocab, (self.batch_size, self.context + 1)))
        return rows[:, :-1], rows[:, 1:].clone(), np.zeros(self.batch_size, dtype=np.int64)

    def val_batches(self, domain):
        return self._val


def peak_flops(device: str, given: float | None) -> float | None:
    if given:
        return given * 1e12
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
        for key, tf in PEAK_BF16_TFLOPS.items():
            if key in name:
                return tf * 1e12
    return None


def bench_scale(name: str, shape: dict, args, device: str, peak: float | None) -> dict:
    n = count_params(shape, args.vocab)
    model = build_model(shape, args.vocab, args.context, seed=0)
    batcher = RandomBatcher(args.vocab, args.batch, args.context)
    total = args.warmup_steps + args.steps
    cfg = TrainConfig(steps=total, schedule_steps=total, eval_every=10**9, device=device, precision=args.precision,
                      compile=args.compile, lr=1e-3, warmup=0)
    # one untimed warm-up call (allocations, compile), then the timed run continues from its checkpoint
    ckpt = Path(args.tmp) / f"bomix-throughput-{name}"  # a checkpoint folder (bomix.backends.trainer.checkpoint)
    if args.warmup_steps:
        train(model, batcher, TrainConfig(**{**cfg.__dict__, "steps": args.warmup_steps}), lambda t: np.ones(1),
              checkpoint=ckpt)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = train(model, batcher, cfg, lambda t: np.ones(1), resume=ckpt if args.warmup_steps else None)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    tokens = args.steps * args.batch * args.context
    tok_s = tokens / wall
    d, layers = shape["hidden_size"], shape["num_hidden_layers"]
    fpt = 6 * n + 12 * layers * d * args.context
    row = {"scale": name, "params": n, "status": out.status, "steps": args.steps, "batch": args.batch,
           "context": args.context, "seconds": round(wall, 3), "tokens_per_s": round(tok_s, 1),
           "model_tflops_per_s": round(tok_s * fpt / 1e12, 4),
           "mfu": None if peak is None else round(tok_s * fpt / peak, 4)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ladder", default="cpu", help="cpu | gpu")
    ap.add_argument("--scales", default=None, help="comma-separated subset of the ladder")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup-steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", help="auto | fp32 | bf16")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--tmp", default="/tmp")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ladder = resolve_ladder(args.ladder)
    names = args.scales.split(",") if args.scales else list(ladder)
    peak = peak_flops(device, args.peak_tflops)
    rows = [bench_scale(n, ladder[n], args, device, peak) for n in names]
    dev_name = torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu ({platform.processor() or platform.machine()})"
    result = {"device": dev_name, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg(), "precision": args.precision, "compile": args.compile,
              "vocab": args.vocab, "peak_flops": peak, "torch": torch.__version__, "results": rows}
    out = Path(args.out or Path(__file__).parent / "results" / f"trainer_throughput_{device.split(':')[0]}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
