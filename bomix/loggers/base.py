"""The Logger seam: what a campaign reports as it goes (nothing here changes results)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bomix.runs import RunResult


class Logger:
    """Receives a campaign's events; subclasses write them somewhere. The default does nothing.

    Implement :meth:`scalars` (and optionally :meth:`curve`, :meth:`config`, :meth:`close`).
    """

    def config(self, config: Mapping[str, Any]) -> None:
        """The campaign's resolved config (once, at the start)."""

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Campaign-level scalars at ``step`` (the number of finished runs)."""

    def curve(self, run_id: str, steps: Sequence[int], metrics: Mapping[str, Sequence[float]]) -> None:
        """One finished run's learning curve (``metrics[m][i]`` at training step ``steps[i]``)."""

    def close(self) -> None:
        """Flush and release files."""

    # ----- what the campaign calls -----------------------------------------------------------
    def run_finished(self, result: RunResult, objective_value: float | None, n_finished: int,
                     budget_used: float) -> None:
        """A run finished: its curve, and the campaign's progress."""
        c = result.curve
        if len(c):
            self.curve(str(result.spec.run_id), [int(s) for s in c.steps],
                       {m: [float(x) for x in v] for m, v in c.metrics.items()})
        vals = {"campaign/budget_used": float(budget_used), "campaign/run_ok": float(result.ok)}
        if objective_value is not None and math.isfinite(objective_value):
            vals["campaign/objective"] = float(objective_value)
        self.scalars(vals, n_finished)

    def recommended(self, recommendation: Mapping[str, Any], n_finished: int) -> None:
        """A new recommendation (true value and regret on simulators)."""
        vals = {f"campaign/{k}": float(recommendation[k]) for k in ("true_value", "regret")
                if recommendation.get(k) is not None}
        if vals:
            self.scalars(vals, n_finished)


class NullLogger(Logger):
    """Logs nothing (``logger=none``, the default)."""


class MultiLogger(Logger):
    """Several loggers at once."""

    def __init__(self, loggers: Sequence[Logger]):
        self.loggers = list(loggers)

    def config(self, config):
        for lg in self.loggers:
            lg.config(config)

    def scalars(self, values, step):
        for lg in self.loggers:
            lg.scalars(values, step)

    def curve(self, run_id, steps, metrics):
        for lg in self.loggers:
            lg.curve(run_id, steps, metrics)

    def close(self):
        for lg in self.loggers:
            lg.close()
