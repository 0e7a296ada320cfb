"""One small swarm of logged runs, written in each format ``bomix suggest`` reads (shared by the suggest tests).

Every writer writes the same runs (same mixtures, same losses, same order), so every reader must give the same
table: three domains, a loss that is lowest near ``OPTIMUM``, final values only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DOMAINS = ("web", "code", "books")
OPTIMUM = np.array([0.5, 0.3, 0.2])
N_RUNS = 12


def mixtures(n: int = N_RUNS, seed: int = 0) -> np.ndarray:
    """``(n, 3)`` mixtures, rounded to 1e-6 (as logged weights are) and summing to 1 exactly."""
    W = np.random.default_rng(seed).dirichlet(np.ones(len(DOMAINS)), size=n).round(6)
    W[:, -1] = 1.0 - W[:, :-1].sum(1)
    return W


def losses(W: np.ndarray) -> dict[str, np.ndarray]:
    """Two metrics per run: ``loss`` (lowest at ``OPTIMUM``) and ``acc``."""
    loss = 2.0 + ((W - OPTIMUM) ** 2).sum(1)
    return {"loss": loss, "acc": 1.0 - loss / 4}


def write_long(folder: Path, n: int = N_RUNS, scale: str = "20M", params: float = 2e7, step: int = 1000) -> Path:
    W, m = mixtures(n), losses(mixtures(n))
    df = pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "scale": scale, "params": params, "step": step,
                       **{f"w:{d}": W[:, j] for j, d in enumerate(DOMAINS)}, **{f"m:{k}": v for k, v in m.items()}})
    path = folder / "runs.csv"
    df.to_csv(path, index=False)
    return path


def write_regmix(folder: Path, n: int = N_RUNS, mixture: str = "train_mixture_1m.csv",
                 loss: str = "train_pile_loss_1m.csv") -> Path:
    """RegMix's pair of files (``index`` joins them); returns the mixture file."""
    W, m = mixtures(n), losses(mixtures(n))
    idx = np.arange(1, n + 1)
    pd.DataFrame({"index": idx, **{f"train_the_pile_{d}": W[:, j] for j, d in enumerate(DOMAINS)}}).to_csv(
        folder / mixture, index=False)
    pd.DataFrame({"index": idx, **{f"metric/the_pile_{k}_val_loss": v for k, v in m.items()}}).to_csv(
        folder / loss, index=False)
    return folder / mixture


def write_olmix(folder: Path, n: int = N_RUNS) -> Path:
    """Olmix's ``ratios.csv`` and ``metrics.csv``; returns the folder."""
    W, m = mixtures(n), losses(mixtures(n))
    ids = [f"run-{i}" for i in range(n)]
    pd.DataFrame({"run_id": ids, "name": [f"swarm-{i}" for i in range(n)],
                  **{d: W[:, j] for j, d in enumerate(DOMAINS)}}).to_csv(folder / "ratios.csv", index=False)
    pd.DataFrame({"run_id": ids, **m}).to_csv(folder / "metrics.csv", index=False)
    return folder


def write_wandb(folder: Path, n: int = N_RUNS, prefix: str = "mix.") -> Path:
    """A W&B runs-table export: bookkeeping columns, config (weights, lr) and summary (metrics) columns."""
    W, m = mixtures(n), losses(mixtures(n))
    df = pd.DataFrame({"Name": [f"run-{i}" for i in range(n)], "State": "finished", "Runtime": 120 + np.arange(n),
                       **{f"{prefix}{d}": W[:, j] for j, d in enumerate(DOMAINS)}, "optimizer": "adamw",
                       "lr": 3e-4, "val/loss": m["loss"], "val/acc": m["acc"]})
    path = folder / "wandb_export.csv"
    df.to_csv(path, index=False)
    return path
