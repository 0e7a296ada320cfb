"""A user's own Hydra training app (lightning-hydra-template style): the task returns the validation loss.

It knows nothing of bomix: the mixture comes in as data.weights.<domain>, the model size as model.size
and the training length as trainer.max_steps. `python train.py -m` sweeps it with hydra/sweeper=bomix;
`python train.py -m --config-name train_groups` picks the model as a config group (conf/model/*.yaml).
"""

import json
import math
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

SIZES = {"small": 1e6, "medium": 4e6, "large": 1.6e7}
BEST = {"code": 0.5, "web": 0.3, "books": 0.2}


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def train(cfg: DictConfig) -> float:
    w = {d: float(cfg.data.weights[d]) for d in BEST}
    assert abs(sum(w.values()) - 1) < 1e-6, w
    n, steps = SIZES[cfg.model.size], int(cfg.trainer.max_steps)
    if cfg.get("fail_on") and cfg.model.size == cfg.fail_on:
        raise RuntimeError("out of memory")
    val_loss = 2.0 + 3.0 / math.log(n) + 50.0 / steps + sum((w[d] - BEST[d]) ** 2 for d in BEST)
    log = Path(os.environ["APP_LOG"])  # what each job trained, for the test to check
    with log.open("a") as f:
        f.write(json.dumps({"weights": w, "size": cfg.model.size, "steps": steps, "val_loss": val_loss}) + "\n")
    return val_loss


if __name__ == "__main__":
    train()
