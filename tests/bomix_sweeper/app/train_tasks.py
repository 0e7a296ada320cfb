"""A user's Hydra app that reports several metrics (a dict): the validation loss to minimise and a downstream accuracy
that the sweep constrains (``hydra.sweeper.constraints``). Books help the accuracy; the loss prefers fewer books."""

import json
import math
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

SIZES = {"small": 1e6, "medium": 4e6, "large": 1.6e7}
BEST = {"code": 0.5, "web": 0.3, "books": 0.2}


def books_acc(w: dict) -> float:
    """The accuracy (the ground truth the test checks the recommendation against)."""
    return 0.3 + 0.5 * w["books"]


@hydra.main(config_path="conf", config_name="train_tasks", version_base="1.3")
def train(cfg: DictConfig) -> dict:
    w = {d: float(cfg.data.weights[d]) for d in BEST}
    n, steps = SIZES[cfg.model.size], int(cfg.trainer.max_steps)
    val_loss = 2.0 + 3.0 / math.log(n) + 50.0 / steps + sum((w[d] - BEST[d]) ** 2 for d in BEST)
    out = {"val_loss": val_loss, "books_acc": books_acc(w), "unused": 1.0}
    with Path(os.environ["APP_LOG"]).open("a") as f:
        f.write(json.dumps({"weights": w, "size": cfg.model.size, "steps": steps, **out}) + "\n")
    return out


if __name__ == "__main__":
    train()
