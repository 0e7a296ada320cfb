"""A user's Hydra app whose "training run" is bomix's synthetic simulator with 12 downstream-like tasks: each job
returns 17 metrics (``loss_<domain>``, ``loss_target``, ``task0``..``task11``: names a Hydra override can spell).
The sweep (conf/train_synthetic.yaml plus the test's overrides) optimises a normalised mean of the tasks under a
constraint on one domain's loss; :func:`backend` is also the ground truth the test checks the recommendation on."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from bomix.backends.synthetic import SyntheticBackend
from bomix.runs import RunSpec


def backend() -> SyntheticBackend:
    return SyntheticBackend(k=4, seed=0, tasks=12, noise=0.005)


def name(metric: str) -> str:
    """The app's name of a simulator metric (``task:3`` -> ``task3``, ``loss:d0`` -> ``loss_d0``)."""
    return metric.replace("task:", "task").replace("loss:", "loss_")


@hydra.main(config_path="conf", config_name="train_synthetic", version_base="1.3")
def train(cfg: DictConfig) -> dict:
    b = backend()
    w = [float(cfg.data.weights[d]) for d in b.space.domains]
    res = b.run(RunSpec(b.space.mixture(w), str(cfg.model.size), int(cfg.trainer.max_steps), seed=int(cfg.seed)))
    return {name(m): float(v) for m, v in res.curve.final().items()}


if __name__ == "__main__":
    train()
