"""The scalar to minimise, built from one row of metrics. Configured, never hard-coded.

An objective aggregates many metrics with different scales and directions:

    value = sign * sum_m weight_m * d_m * n_m(metric_m)

with ``weight_m >= 0`` (normalised to sum to 1), ``d_m = -1`` for a metric to maximise (an accuracy) and
``+1`` for one to minimise (a loss), and ``n_m`` the identity, or, with reference values, the relative
deviation from the reference mixture ``n_m(x) = (x - ref_m) / |ref_m|`` (so a task on another scale does
not dominate: every term is "fraction better or worse than the reference"). Lower is better.

Where reference values come from: they are declared in the config (``reference: {metric: value}``), never
read from a simulator's truth (a policy may not read it) nor from the campaign's own runs (the objective
would change as runs arrive, and stored values with it). Measure them once from runs of the reference mixture
(uniform, the token-proportional mixture or your production mixture) with
:func:`bomix.reference.reference_values` (``bomix reference DIR``) and paste the block into the config. One
value per metric, whatever the fidelity: the normalisation is then the same affine map of each metric at every
fidelity, so a proxy run's objective is still a proxy of the target's (a per-fidelity reference would need the
reference mixture run at every fidelity and would change the objective's shape between fidelities).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bomix.errors import BomixError
from bomix.runs import Curve

#: the keys of an objective mapping: exactly one of the first four, plus any of the rest
KINDS = ("metric", "mean", "weights", "maximize")
MODIFIERS = ("minimize", "reference", "name")


@dataclass(frozen=True)
class Objective:
    """``sign * sum_m weight_m * d_m * n_m(metric_m)`` (weights normalised to sum to 1; see the module docstring).

    Build with :meth:`metric`, :meth:`mean`, :meth:`weighted`, :meth:`negated` (for an accuracy to maximise)
    or :meth:`from_config`. Lower is better.

    Attributes:
        weights: ``(metric, weight)`` pairs.
        sign: ``-1`` negates the whole sum (``{maximize: m}`` of one metric).
        name: display name (default derived from the terms).
        maximize: metrics whose term enters negated (``d_m = -1``).
        reference: ``(metric, value)`` of the reference mixture for every metric; empty = no normalisation.
    """

    weights: tuple[tuple[str, float], ...]
    sign: float = 1.0
    name: str = ""
    maximize: tuple[str, ...] = ()
    reference: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not self.weights:
            raise BomixError("an objective needs at least one metric")
        names = [m for m, _ in self.weights]
        if len(set(names)) != len(names):
            raise BomixError(f"an objective names a metric twice: {names}")
        total = sum(w for _, w in self.weights)
        if not (math.isfinite(total) and total > 0) or any(not (w >= 0) for _, w in self.weights):
            raise BomixError(f"objective weights must be >= 0 with a positive sum, got {dict(self.weights)}")
        object.__setattr__(self, "weights", tuple((m, w / total) for m, w in self.weights))
        object.__setattr__(self, "maximize", tuple(self.maximize))
        object.__setattr__(self, "reference", tuple((str(m), float(v)) for m, v in self.reference))
        stray = [m for m in self.maximize if m not in names]
        if stray:
            raise BomixError(f"objective maximize names metric(s) {stray} that have no weight: add them to weights")
        if self.reference:
            ref = dict(self.reference)
            missing = [m for m in names if m not in ref]
            extra = [m for m in ref if m not in names]
            bad = [m for m, v in self.reference if not (math.isfinite(v) and v != 0)]
            if missing:
                raise BomixError(f"objective reference lacks a value for metric(s) {missing}: a normalised "
                                 "objective needs the reference mixture's value of every metric")
            if extra:
                raise BomixError(f"objective reference names metric(s) {extra} that are not in the objective")
            if bad:
                raise BomixError(f"objective reference value(s) of {bad} must be finite and non-zero")
            object.__setattr__(self, "reference", tuple((m, ref[m]) for m in names))
        object.__setattr__(self, "_ref", dict(self.reference))
        if not self.name:
            object.__setattr__(self, "name", self._default_name())

    def _default_name(self) -> str:
        if not self.maximize and not self.reference:
            nm = self.weights[0][0] if len(self.weights) == 1 else "wmean(" + ",".join(self.metrics) + ")"
            return ("-" if self.sign < 0 else "") + nm
        terms = ",".join(("-" if m in self.maximize else "") + m for m in self.metrics)
        return ("-" if self.sign < 0 else "") + ("rel(" if self.reference else "wmean(") + terms + ")"

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
        """Build from config: a metric name, or a mapping with exactly one of ``metric: m``, ``mean: [...]``,
        ``weights: {m: w}``, ``maximize: m`` (one metric to maximise) and optionally:

        - ``maximize: [...]`` (a list: with ``mean`` / ``weights``, or alone: the mean of those metrics) and
          ``minimize: [...]`` (the default direction; stating it guards against a typo): per-metric directions;
        - ``reference: {m: value}``: normalise every metric against the reference mixture's value;
        - ``name``.

        ``None`` -> ``default``. Every bad config is a one-line :class:`BomixError`.
        """
        if cfg is None:
            if default is None:
                raise BomixError("no objective configured and the backend has no default: set problem.objective")
            obj = default
        elif isinstance(cfg, str):
            obj = cls.metric(cfg)
        elif isinstance(cfg, Mapping):
            obj = cls._from_mapping(dict(cfg))
        else:
            raise BomixError(f"an objective is a metric name or a mapping, got {type(cfg).__name__} {cfg!r}")
        if available is not None:
            missing = [m for m in obj.metrics if m not in available]
            if missing:
                raise BomixError(f"objective uses unknown metric(s) {missing}; the backend reports {list(available)}")
        return obj

    @classmethod
    def _from_mapping(cls, cfg: dict) -> "Objective":
        unknown = sorted(k for k in cfg if k not in KINDS + MODIFIERS)
        if unknown:
            raise BomixError(f"unknown objective key(s) {unknown}: use one of {', '.join(KINDS)} plus optional "
                             f"{', '.join(MODIFIERS)}")
        name = cfg.pop("name", "") or ""
        if not isinstance(name, str):
            raise BomixError(f"objective name must be a string, got {name!r}")
        minimize = _names(cfg.pop("minimize", None) or [], "minimize")
        reference = cfg.pop("reference", None)
        maximize: list[str] = []
        if isinstance(cfg.get("maximize"), Sequence) and not isinstance(cfg["maximize"], str):
            # a list (alone: the mean of those metrics; with mean / weights) sets per-metric directions; one
            # name is the one-metric kind ``maximize: m``
            maximize = _names(cfg.pop("maximize"), "maximize")
            if not cfg:
                cfg = {"mean": list(maximize)}
        if len(cfg) != 1:
            raise BomixError("objective config needs exactly one of metric / mean / weights / maximize, "
                             f"got {sorted(cfg)}")
        (kind, val), = cfg.items()
        sign = 1.0
        if kind in ("metric", "maximize"):
            if not isinstance(val, str) or not val:
                raise BomixError(f"objective {kind} must be one metric name, got {val!r}")
            terms = ((val, 1.0),)
            sign = -1.0 if kind == "maximize" else 1.0
        elif kind == "mean":
            terms = tuple((m, 1.0) for m in _names(val, "mean"))
        else:
            if not isinstance(val, Mapping) or not val:
                raise BomixError(f"objective weights must be a mapping metric -> weight, got {val!r}")
            terms = tuple((str(m), finite_number(w, f"objective weight of {m}")) for m, w in val.items())
        both = sorted(set(minimize) & set(maximize))
        if both:
            raise BomixError(f"objective metric(s) {both} are both in minimize and maximize: choose one direction")
        names = [m for m, _ in terms]
        for key, listed in (("minimize", minimize), ("maximize", maximize)):
            stray = [m for m in listed if m not in names]
            if stray:
                raise BomixError(f"objective {key} names metric(s) {stray} that are not in the objective {names}")
        if reference is not None:
            if not isinstance(reference, Mapping) or not reference:
                raise BomixError(f"objective reference must map metric -> the reference mixture's value, got "
                                 f"{reference!r}")
            reference = tuple((str(m), finite_number(v, f"objective reference value of {m}"))
                              for m, v in reference.items())
        return cls(terms, sign=sign, name=name, maximize=tuple(maximize), reference=reference or ())

    @property
    def metrics(self) -> list[str]:
        return [m for m, _ in self.weights]

    @property
    def plain(self) -> bool:
        """No per-metric direction or normalisation: ``sign * sum_m weight_m * metric_m``."""
        return not self.maximize and not self.reference

    def coefficients(self) -> tuple[dict[str, float], float]:
        """``({metric: c_m}, offset)`` with ``value = offset + sum_m c_m * metric_m`` (the objective is affine)."""
        ref = dict(self.reference)
        coef, offset = {}, 0.0
        for m, w in self.weights:
            c = self.sign * w * (-1.0 if m in self.maximize else 1.0)
            if ref:
                c, offset = c / abs(ref[m]), offset - c * ref[m] / abs(ref[m])
            coef[m] = c
        return coef, offset

    def _term(self, m: str, w: float, x):
        """``w * d_m * n_m(x)`` for a float or an array ``x`` (exactly ``w * x`` for a plain objective)."""
        if self.reference:
            r = self._ref[m]
            x = (x - r) / abs(r)
        return -w * x if m in self.maximize else w * x

    def __call__(self, row: Mapping[str, float]) -> float:
        """One metrics row -> scalar (NaN when a metric is missing)."""
        try:
            return self.sign * float(sum(self._term(m, w, float(row[m])) for m, w in self.weights))
        except KeyError:
            return float("nan")

    def values(self, metrics: Mapping[str, np.ndarray]) -> np.ndarray:
        """Vectorised: metric name -> ``(n,)`` arrays gives ``(n,)`` objective values."""
        out = None
        for m, w in self.weights:
            if m not in metrics:
                n = len(next(iter(metrics.values()))) if metrics else 0
                return np.full(n, np.nan)
            term = self._term(m, w, np.asarray(metrics[m], dtype=float))
            out = term if out is None else out + term
        return self.sign * out

    def on_curve(self, curve: Curve) -> np.ndarray:
        """``(n,)`` objective at every evaluated step of ``curve``."""
        return self.values(curve.metrics) if len(curve) else np.zeros(0)

    def to_dict(self) -> dict:
        """What a store records (``maximize`` and ``reference`` only when set: a plain objective's dict is the one
        stores have always held)."""
        d = {"weights": dict(self.weights), "sign": self.sign, "name": self.name}
        if self.maximize:
            d["maximize"] = list(self.maximize)
        if self.reference:
            d["reference"] = dict(self.reference)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Objective":
        """The inverse of :meth:`to_dict` (a stored objective)."""
        return cls(tuple((m, float(w)) for m, w in d["weights"].items()), float(d.get("sign", 1.0)),
                   d.get("name", ""), tuple(d.get("maximize") or ()), tuple((d.get("reference") or {}).items()))

    @property
    def key(self) -> str:
        """A cache key of the objective's value (terms, sign, directions, references)."""
        terms = ",".join(f"{m}:{w:.12g}" for m, w in self.weights)
        extra = ""
        if self.maximize:
            extra += "|max=" + ",".join(self.maximize)
        if self.reference:
            extra += "|ref=" + ",".join(f"{m}:{v:.12g}" for m, v in self.reference)
        return f"{terms}|{self.sign:g}{extra}"


def _names(v, key: str) -> list[str]:
    """A list of metric names (one name is a list of one)."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(m, str) and m for m in v):
        raise BomixError(f"objective {key} must be a list of metric names, got {v!r}")
    if len(set(v)) != len(v):
        raise BomixError(f"objective {key} names a metric twice: {list(v)}")
    return list(v)


def finite_number(v, what: str) -> float:
    """``v`` as a finite float, else a one-line error naming ``what`` (a bool is not a number)."""
    if isinstance(v, bool):
        raise BomixError(f"{what} must be a number, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise BomixError(f"{what} must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise BomixError(f"{what} must be finite, got {v!r}")
    return x
