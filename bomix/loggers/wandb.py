"""Weights & Biases (``pip install 'bomix[wandb]'``); ``mode=offline`` writes a local run directory only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bomix.loggers.base import Logger

MODES = ("offline", "online", "disabled")


class WandbLogger(Logger):
    """One W&B run per campaign.

    Args:
        project: W&B project.
        dir: where W&B writes (default ``<campaign>``; the run is ``<dir>/wandb/offline-run-*``).
        mode: ``offline`` (default: nothing leaves the machine; ``wandb sync`` uploads later), ``online``,
            ``disabled``.
        name: run name (default W&B's).
        tags: run tags.
    """

    def __init__(self, project: str = "bomix", dir: str | Path | None = None, mode: str = "offline",
                 name: str | None = None, tags: Sequence[str] | None = None):
        from bomix.errors import BomixError
        from bomix.extras import require

        if mode not in MODES:
            raise BomixError(f"logger.mode must be one of {MODES}, got {mode!r}")
        wandb = require("wandb", "wandb", "logger=wandb")
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, dir=None if dir is None else str(dir), mode=mode, name=name,
                              tags=list(tags or []), reinit="create_new")
        self._curves: set[str] = set()

    def config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self.run.log({**{k: float(v) for k, v in values.items()}, "campaign/n_finished": int(step)})

    def curve(self, run_id: str, steps: Sequence[int], metrics: Mapping[str, Sequence[float]]) -> None:
        key = f"run/{run_id}"
        if key not in self._curves:  # each run's curve against its own training-step axis
            self.run.define_metric(f"{key}/*", step_metric=f"{key}/step")
            self._curves.add(key)
        for i, s in enumerate(steps):
            row = {f"{key}/{m}": float(v[i]) for m, v in metrics.items() if v[i] == v[i]}
            if row:
                self.run.log({f"{key}/step": int(s), **row})

    def close(self) -> None:
        self.run.finish()
