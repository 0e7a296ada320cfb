"""A user's two-phase Hydra app: data.phases.<phase>.weights.<domain> and data.phases.<phase>.start_step.

`python train_phases.py -m` sweeps it with hydra/sweeper=bomix over schedules (conf/train_phases.yaml)."""

import json
import math
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

SIZES = {"small": 1e6, "medium": 4e6, "large": 1.6e7}
BEST = {"pretrain": {"code": 0.5, "web": 0.3, "books": 0.2}, "anneal": {"code": 0.1, "web": 0.1, "books": 0.8}}


@hydra.main(config_path="conf", config_name="train_phases", version_base="1.3")
def train(cfg: DictConfig) -> float:
    n, steps = SIZES[cfg.model.size], int(cfg.trainer.max_steps)
    ph = {p: {d: float(cfg.data.phases[p].weights[d]) for d in BEST[p]} for p in BEST}
    starts = {p: int(cfg.data.phases[p].start_step) for p in BEST}
    for w in ph.values():
        assert abs(sum(w.values()) - 1) < 1e-6, w
    val_loss = 2.0 + 3.0 / math.log(n) + 50.0 / steps + sum(
        (ph[p][d] - BEST[p][d]) ** 2 for p in BEST for d in BEST[p])
    with Path(os.environ["APP_LOG"]).open("a") as f:
        f.write(json.dumps({"phases": ph, "starts": starts, "size": cfg.model.size, "steps": steps,
                            "resume": [cfg.trainer.get("resume_from"), cfg.trainer.get("resume_step")]}) + "\n")
    return val_loss


if __name__ == "__main__":
    train()
