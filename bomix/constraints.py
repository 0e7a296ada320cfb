"""Outcome constraints of a problem: bounds on metrics of the recommended mixture at the target fidelity.

Config (``problem.constraints``, a list; each entry one bound):

    constraints:
      - {metric: loss:d1, max: 3.2}                      # loss:d1 <= 3.2
      - {metric: task:0, min: 0.4}                       # task:0 >= 0.4
      - {metric: loss:code, max_relative: 0.01, reference: 3.1}   # <= 3.1 + 1% of |3.1|: no worse than the
      - {metric: task:2, min_relative: 0.02}             # >= ref - 2% of |ref|            reference mixture + 1%

A relative bound is measured from the reference mixture's value of the metric: the entry's ``reference``, else
the objective's ``reference`` value of that metric (:mod:`bomix.objective`: reference values are declared in the
config, measured once from runs of the reference mixture, e.g. with :func:`bomix.reference.reference_values`).
Every constraint becomes ``metric <= bound`` or ``metric >= bound`` (:class:`OutcomeConstraint`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.objective import Objective, finite_number

BOUNDS = ("max", "min", "max_relative", "min_relative")
KEYS = ("metric", "reference", *BOUNDS)


@dataclass(frozen=True)
class OutcomeConstraint:
    """``metric <= bound`` (``upper``) or ``metric >= bound`` at the target fidelity.

    Attributes:
        metric: the constrained metric.
        bound: the threshold.
        upper: True for an upper bound (``max``), False for a lower bound (``min``).
    """

    metric: str
    bound: float
    upper: bool

    @property
    def label(self) -> str:
        return f"{self.metric} {'<=' if self.upper else '>='} {self.bound:.6g}"

    def slack(self, values: np.ndarray) -> np.ndarray:
        """``(n,)`` values of the metric -> ``(n,)`` slack, ``>= 0`` where the bound holds."""
        v = np.asarray(values, dtype=float)
        return self.bound - v if self.upper else v - self.bound

    def as_objective(self) -> Objective:
        """The metric oriented like an objective, lower = more feasible: the bound holds iff its value <=
        :attr:`threshold`. (A policy models it like the objective: ``Y = -value``, feasible iff ``Y >= -threshold``.)"""
        return Objective(((self.metric, 1.0),), sign=1.0 if self.upper else -1.0)

    @property
    def threshold(self) -> float:
        """The bound on :meth:`as_objective`'s value."""
        return self.bound if self.upper else -self.bound

    def to_dict(self) -> dict:
        return {"metric": self.metric, ("max" if self.upper else "min"): self.bound}


def parse_constraints(cfg: Any, available: Sequence[str] | None = None,
                      objective: Objective | None = None) -> tuple[OutcomeConstraint, ...]:
    """``problem.constraints`` (None or a list of entries, see the module docstring) -> constraints.

    Args:
        available: the metrics runs report (None: not checked, e.g. a study that lists none).
        objective: its ``reference`` values serve relative bounds that give no ``reference`` of their own.

    Raises:
        BomixError: one line naming the bad entry (not a list, unknown key or metric, no bound or two bounds, a
            relative bound without a reference value, a bound that is not a finite number ...).
    """
    if cfg is None:
        return ()
    if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence):
        raise BomixError(f"problem.constraints must be a list of {{metric: m, max: x}} entries, got {cfg!r}")
    refs = dict(objective.reference) if objective is not None else {}
    out = []
    for i, entry in enumerate(cfg):
        out.append(_one(entry, f"problem.constraints[{i}]", available, refs))
    return tuple(out)


def _one(entry: Any, where: str, available: Sequence[str] | None, refs: Mapping[str, float]) -> OutcomeConstraint:
    if not isinstance(entry, Mapping):
        raise BomixError(f"{where} must be a mapping like {{metric: loss:d1, max: 3.2}}, got {entry!r}")
    entry = dict(entry)
    unknown = sorted(str(k) for k in entry if k not in KEYS)
    if unknown:
        raise BomixError(f"{where} has unknown key(s) {unknown}: use metric, one of {', '.join(BOUNDS)}, "
                         "and reference (relative bounds)")
    metric = entry.get("metric")
    if not isinstance(metric, str) or not metric:
        raise BomixError(f"{where} needs a metric name (metric: ...), got {metric!r}")
    if available is not None and metric not in available:
        raise BomixError(f"{where} constrains unknown metric {metric!r}; the backend reports {list(available)}")
    kinds = [k for k in BOUNDS if k in entry]
    if len(kinds) != 1:
        raise BomixError(f"{where} ({metric}) needs exactly one of {', '.join(BOUNDS)}, got {kinds or 'none'}")
    kind = kinds[0]
    x = finite_number(entry[kind], f"{where} ({metric}) {kind}")
    if kind in ("max", "min"):
        if "reference" in entry:
            raise BomixError(f"{where} ({metric}): reference goes with max_relative / min_relative, not {kind}")
        return OutcomeConstraint(metric, x, kind == "max")
    if x < 0:
        raise BomixError(f"{where} ({metric}) {kind} must be >= 0 (a fraction of the reference), got {x}")
    ref = entry.get("reference", refs.get(metric))
    if ref is None:
        raise BomixError(f"{where} ({metric}) is relative but has no reference value: set reference: <the "
                         "reference mixture's value> in the entry or in problem.objective.reference")
    ref = finite_number(ref, f"{where} ({metric}) reference")
    upper = kind == "max_relative"
    return OutcomeConstraint(metric, ref + x * abs(ref) if upper else ref - x * abs(ref), upper)


def true_slacks(backend, mixture, fidelity, constraints: Sequence[OutcomeConstraint]) -> np.ndarray | None:
    """``(c,)`` slacks of ``mixture`` in a simulator's truth (None without truth or constraints): only the
    campaign's evaluator calls this, never a policy."""
    if not constraints or not backend.has_truth:
        return None
    vals = [backend.true_value(mixture, fidelity, Objective.metric(c.metric)) for c in constraints]
    return np.array([float(c.slack(np.array([v]))[0]) for c, v in zip(constraints, vals)])
