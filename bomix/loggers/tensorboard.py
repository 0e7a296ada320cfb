"""TensorBoard event files (``torch.utils.tensorboard``; ``pip install 'bomix[tensorboard]'``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bomix.errors import BomixError
from bomix.loggers.base import Logger


class TensorBoardLogger(Logger):
    """Writes to ``log_dir`` (default ``<campaign>/tensorboard``): ``tensorboard --logdir DIR`` shows it.

    Args:
        log_dir: event-file folder.
        flush_secs: how often the writer flushes.
    """

    def __init__(self, log_dir: str | Path, flush_secs: int = 10):
        from bomix.extras import require

        require("tensorboard", "tensorboard", "logger=tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        if not log_dir:
            raise BomixError("logger.log_dir is empty: give a folder for the TensorBoard event files")
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir), flush_secs=int(flush_secs))

    def config(self, config: Mapping[str, Any]) -> None:
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, float(v), int(step))

    def curve(self, run_id: str, steps: Sequence[int], metrics: Mapping[str, Sequence[float]]) -> None:
        for m, vals in metrics.items():
            for s, v in zip(steps, vals):
                if v == v:  # skip NaN (not measured at that step)
                    self.writer.add_scalar(f"run/{run_id}/{m}", float(v), int(s))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
