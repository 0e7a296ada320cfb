"""Learning curves as a user hands them over (objects, mappings, tables, pairs, files) -> ``Curve``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.runs import Curve


def told_curve(objective, steps: int, value: float | None, curve: Any, metrics: Mapping[str, float] | None) -> Curve:
    """The curve of one ``Study.tell`` (one of ``value``, ``metrics``, ``curve``; none: an empty curve),
    checked: it has the objective's metrics, its steps increase within ``1..steps`` (the run's steps)."""
    if value is not None:
        if len(objective.metrics) != 1:
            raise BomixError(f"the objective {objective.name} uses several metrics {objective.metrics}: "
                             "tell metrics={...}")
        metrics = {objective.metrics[0]: value}
    if metrics is not None:
        try:
            row = {str(k): float(v) for k, v in dict(metrics).items()}
        except (TypeError, ValueError):
            raise BomixError(f"metric values must be numbers, got {metrics!r}") from None
        c = Curve(np.array([steps]), {k: np.array([v]) for k, v in row.items()})
    elif curve is not None:
        c = parse_curve(curve, objective.metrics)
    else:
        return Curve(np.zeros(0), {})
    missing = [m for m in objective.metrics if m not in c.metrics]
    if missing:
        raise BomixError(f"the result lacks the objective's metric(s) {missing}; it has {sorted(c.metrics)}")
    if len(c) and (c.steps.min() < 1 or c.steps.max() > steps or np.any(np.diff(c.steps) <= 0)):
        raise BomixError(f"curve steps must increase within 1..{steps} (the run's steps), got "
                         f"{c.steps.min()}..{c.steps.max()}")
    return c


def parse_curve(curve: Any, objective_metrics: Sequence[str]) -> Curve:
    """A :class:`Curve`, ``{"steps": [...], "metrics": {m: [...]}}``, a DataFrame with a ``step``
    column (one column per metric), or ``[(step, value), ...]`` pairs of a one-metric objective."""
    import pandas as pd

    if isinstance(curve, Curve):
        return curve
    if isinstance(curve, pd.DataFrame):
        return _from_frame(curve)
    if isinstance(curve, Mapping):
        if "steps" not in curve or "metrics" not in curve:
            raise BomixError('a curve mapping needs "steps" and "metrics": {"steps": [100, 200], "metrics": {"loss": [..]}}')
        try:
            return Curve.from_dict(curve)
        except (TypeError, ValueError) as exc:
            raise BomixError(f"bad curve: {exc}") from None
    if isinstance(curve, Sequence) and not isinstance(curve, str):
        if len(objective_metrics) != 1:
            raise BomixError("(step, value) pairs need a one-metric objective: give {'steps', 'metrics'} instead")
        try:
            arr = np.asarray(curve, dtype=float).reshape(-1, 2)
        except (TypeError, ValueError):
            raise BomixError("a curve of pairs must be [(step, value), ...] numbers") from None
        return Curve(arr[:, 0].astype(np.int64), {objective_metrics[0]: arr[:, 1]})
    raise BomixError(f"cannot read a curve from {type(curve).__name__}: give a Curve, a mapping, a DataFrame or pairs")


def _from_frame(df) -> Curve:
    if "step" not in df.columns:
        raise BomixError(f"a curve table needs a 'step' column (and one column per metric), got {list(df.columns)}")
    df = df.sort_values("step")
    metrics = {}
    for c in df.columns:
        if c == "step":
            continue
        try:
            metrics[str(c)] = df[c].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise BomixError(f"curve column {c!r} is not numeric") from None
    return Curve(df["step"].to_numpy(dtype=np.int64), metrics)


def read_curve_file(path: str | Path, objective_metrics: Sequence[str]) -> Curve:
    """``.csv`` (a ``step`` column + one per metric) or ``.json`` (``{"steps", "metrics"}`` or pairs)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise BomixError(f"curve file {p} not found")
    if p.suffix == ".csv":
        try:
            curve = _from_frame(pd.read_csv(p))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise BomixError(f"cannot read {p} as CSV: {str(exc).splitlines()[0]}") from None
    elif p.suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BomixError(f"{p} is not valid JSON: {exc}") from None
        curve = parse_curve(data, objective_metrics)
    else:
        raise BomixError(f"curve file {p}: use a .csv (step + metric columns) or .json file")
    if len(curve) == 0:
        raise BomixError(f"curve file {p} has no points: give at least one step with its metric values "
                         "(or tell --status failed --error WHY for a run with nothing to report)")
    return curve
