"""The scalar to minimise, built from one row of metrics. Configured, never hard-coded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bomix.errors import BomixError
from bomix.runs import Curve


@dataclass(frozen=True)
class Objective:
    """``sign * sum_m weight_m * metric_m`` (weights normalised to sum to 1).

    Build with :meth:`metric`, :meth:`mean`, :meth:`weighted` or :meth:`negated` (for an accuracy
    to maximise). Lower is better.
    """

    weights: tuple[tuple[str, float], ...]
    sign: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if not self.weights:
            raise BomixError("an objective needs at least one metric")
        total = sum(w for _, w in self.weights)
        if total <= 0 or any(w < 0 for _, w in self.weights):
            raise BomixError("objective weights must be >= 0 with a positive sum")
        object.__setattr__(self, "weights", tuple((m, w / total) for m, w in self.weights))
        if not self.name:
            if len(self.weights) == 1:
                nm = self.weights[0][0]
            else:
                nm = "wmean(" + ",".join(m for m, _ in self.weights) + ")"
            object.__setattr__(self, "name", ("-" if self.sign < 0 else "") + nm)

    @classmethod
    def metric(cls, name: str) -> "Objective":
        return cls(((name, 1.0),))

    @classmethod
    def mean(cls, names: Sequence[str], name: str = "") -> "Objective":
        return cls(tuple((n, 1.0) for n in names), name=name)

    @classmethod
    def weighted(cls, weights: Mapping[str, float], name: str = "") -> "Objective":
        return cls(tuple((k, float(v)) for k, v in weights.items()), name=name)

    @classmethod
    def negated(cls, name: str) -> "Objective":
        """Maximise ``name`` (e.g. an accuracy) by minimising its negation."""
        return cls(((name, 1.0),), sign=-1.0)

    @classmethod
    def from_config(cls, cfg: Mapping | str | None, available: Sequence[str] | None = None,
                    default: "Objective | None" = None) -> "Objective":
        """Build from config: a metric name, or ``{metric: m}``, ``{mean: [...]}``,
        ``{weights: {m: w}}``, ``{maximize: m}``; ``None`` -> ``default``."""
        if cfg is None:
            if default is None:
                raise BomixError("no objective configured and the backend has no default: set problem.objective")
            obj = default
        elif isinstance(cfg, str):
            obj = cls.metric(cfg)
        else:
            cfg = dict(cfg)
            name = cfg.pop("name", "") or ""
            if len(cfg) != 1:
                raise BomixError(
                    "objective config needs exactly one of metric / mean / weights / maximize, "
                    f"got {sorted(cfg)}"
                )
            (kind, val), = cfg.items()
            if kind == "metric":
                obj = cls(((str(val), 1.0),), name=name)
            elif kind == "mean":
                obj = cls.mean(list(val), name=name)
            elif kind == "weights":
                obj = cls.weighted(dict(val), name=name)
            elif kind == "maximize":
                obj = cls(((str(val), 1.0),), sign=-1.0, name=name)
            else:
                raise BomixError(f"unknown objective kind {kind!r}: use metric, mean, weights or maximize")
        if available is not None:
            missing = [m for m in obj.metrics if m not in available]
            if missing:
                raise BomixError(f"objective uses unknown metric(s) {missing}; the backend reports {list(available)}")
        return obj

    @property
    def metrics(self) -> list[str]:
        return [m for m, _ in self.weights]

    def __call__(self, row: Mapping[str, float]) -> float:
        """One metrics row -> scalar (NaN when a metric is missing)."""
        try:
            return self.sign * float(sum(w * float(row[m]) for m, w in self.weights))
        except KeyError:
            return float("nan")

    def values(self, metrics: Mapping[str, np.ndarray]) -> np.ndarray:
        """Vectorised: metric name -> ``(n,)`` arrays gives ``(n,)`` objective values."""
        out = None
        for m, w in self.weights:
            if m not in metrics:
                n = len(next(iter(metrics.values()))) if metrics else 0
                return np.full(n, np.nan)
            term = w * np.asarray(metrics[m], dtype=float)
            out = term if out is None else out + term
        return self.sign * out

    def on_curve(self, curve: Curve) -> np.ndarray:
        """``(n,)`` objective at every evaluated step of ``curve``."""
        return self.values(curve.metrics) if len(curve) else np.zeros(0)

    def to_dict(self) -> dict:
        return {"weights": dict(self.weights), "sign": self.sign, "name": self.name}
