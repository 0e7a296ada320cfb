"""Fidelities: where a run is evaluated (a rung of the model-scale ladder and a step count), and which
fidelities a backend answers honestly.

- :class:`Scale`: a named rung of the ladder (name, parameter count).
- :class:`Fidelity`: ``(scale, steps)``, written ``SCALE@STEPS`` (``str(fid)``; :meth:`Fidelity.parse`).
- :class:`FidelityGrid`: the answered fidelities of a backend: the logged ones, or a trusted range it declares.

A replay simulator built from logged runs knows only the ``(scale, steps)`` pairs that were logged
(RegMix: 1M@1000, 60M@1000, 1B@23842). Any other pair is extrapolation, so such a backend carries a
:class:`FidelityGrid` and its :class:`~bomix.space.Space` refuses every other fidelity with a one-line
error (``Space.check_fidelity``), before a run is dispatched.

A grid has three parts:

- ``points``: the discrete grid policies choose from (``Space.fidelity_grid()``); every point is answered.
- ``logged``: scale -> the steps answered exactly (the logged checkpoints).
- ``ranges``: scale -> ``(lo, hi)``, a step range the simulator declares trusted (interpolation along
  logged learning curves), stated in its ``simulator.json`` and report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bomix.errors import BomixError


@dataclass(frozen=True)
class Scale:
    """A named rung of the model-scale ladder."""

    name: str
    params: float


@dataclass(frozen=True, order=True)
class Fidelity:
    """Where a run is evaluated: a scale of the ladder and a number of training steps.

    Written ``SCALE@STEPS`` (``str(fid)``, e.g. ``1M@1000``); :meth:`parse` reads it back.
    """

    scale: str
    steps: int

    def __str__(self) -> str:
        return f"{self.scale}@{self.steps}"

    @classmethod
    def parse(cls, text: object) -> "Fidelity":
        """``"1M@1000"`` (spaces around the parts allowed) -> ``Fidelity("1M", 1000)``.

        Raises:
            BomixError: not ``SCALE@STEPS`` with STEPS a non-negative integer (one line).
        """
        scale, sep, steps = str(text).partition("@")
        if not sep or not steps.strip().isdigit():
            raise BomixError(f"bad fidelity {text!r}: write it as SCALE@STEPS, e.g. 1M@1000")
        return cls(scale.strip(), int(steps))


@dataclass(frozen=True, eq=False)
class FidelityGrid:
    """The answered fidelities of a backend.

    Args:
        points: ``(scale, steps)`` pairs policies choose from (each must be answered).
        logged: scale -> steps answered exactly (default: the points' steps).
        ranges: scale -> ``(lo, hi)`` steps answered anywhere in between (a declared, trusted range).
    """

    points: tuple[tuple[str, int], ...]
    logged: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pts = tuple(sorted({(str(s), int(t)) for s, t in self.points}, key=lambda p: (p[0], p[1])))
        if not pts:
            raise BomixError("a fidelity grid needs at least one (scale, steps) point")
        logged: dict[str, set[int]] = {str(s): {int(t) for t in ts} for s, ts in dict(self.logged).items()}
        for s, t in pts:
            logged.setdefault(s, set()).add(t)
        ranges = {}
        for s, r in dict(self.ranges).items():
            lo, hi = int(r[0]), int(r[1])
            if not 0 < lo <= hi:
                raise BomixError(f"trusted step range of scale {s!r} must be 0 < lo <= hi, got {list(r)}")
            ranges[str(s)] = (lo, hi)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "logged", {s: tuple(sorted(v)) for s, v in logged.items()})
        object.__setattr__(self, "ranges", ranges)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]], points: Iterable[tuple[str, int]] | None = None,
                   ranges: Mapping[str, tuple[int, int]] | None = None) -> "FidelityGrid":
        """A grid whose answered set is ``pairs`` (e.g. every logged ``(scale, step)``)."""
        logged: dict[str, set[int]] = {}
        for s, t in pairs:
            logged.setdefault(str(s), set()).add(int(t))
        pts = list(points) if points is not None else [(s, t) for s, ts in logged.items() for t in ts]
        return cls(tuple(pts), {s: tuple(v) for s, v in logged.items()}, dict(ranges or {}))

    # ----- queries -------------------------------------------------------------------------------
    def allows(self, scale: str, steps: int) -> bool:
        """True when ``scale@steps`` is answered (logged, or inside the scale's trusted range)."""
        if int(steps) in self.logged.get(scale, ()):
            return True
        r = self.ranges.get(scale)
        return r is not None and r[0] <= int(steps) <= r[1]

    def check(self, scale: str, steps: int) -> None:
        """Raise a one-line BomixError when ``scale@steps`` is not answered."""
        if not self.allows(scale, steps):
            raise BomixError(f"fidelity {Fidelity(scale, int(steps))} has no logged data on this backend (it answers "
                             f"{self.explain()}): choose one of those fidelities")

    def scales(self) -> list[str]:
        """Scales with at least one answered step."""
        return sorted(set(self.logged) | set(self.ranges))

    def steps_at(self, scale: str) -> tuple[int, ...]:
        """Grid steps at ``scale`` (the policy-facing choices), ascending; ``()`` if none."""
        return tuple(sorted(t for s, t in self.points if s == scale))

    def nearest_steps(self, scale: str, steps: float) -> int | None:
        """The answered step at ``scale`` closest to ``steps`` in log-steps (None if the scale has none)."""
        r = self.ranges.get(scale)
        if r is not None and r[0] <= steps <= r[1]:
            return int(round(steps))
        opts = list(self.logged.get(scale, ())) + (list(r) if r else [])
        if not opts:
            return None
        return int(min(opts, key=lambda t: (abs(math.log(t) - math.log(max(steps, 1e-12))), t)))

    def explain(self, max_items: int = 12) -> str:
        """Short text for messages, e.g. ``1M@1000, 60M@1000, 1B@23842`` or ``1M@[100, 5000]``."""
        parts = []
        for s in self.scales():
            if s in self.ranges:
                lo, hi = self.ranges[s]
                parts.append(f"{s}@[{lo}, {hi}]")
            steps = [t for t in self.logged.get(s, ()) if not (s in self.ranges and
                                                               self.ranges[s][0] <= t <= self.ranges[s][1])]
            if len(steps) > 4:
                parts.append(f"{s}@{{{steps[0]}..{steps[-1]}: {len(steps)} logged steps}}")
            else:
                parts.extend(str(Fidelity(s, t)) for t in steps)
        if len(parts) > max_items:
            parts = parts[:max_items] + [f"... ({len(parts) - max_items} more)"]
        return ", ".join(parts)

    # ----- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"points": [[s, t] for s, t in self.points], "logged": {s: list(v) for s, v in self.logged.items()},
                "ranges": {s: list(r) for s, r in self.ranges.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "FidelityGrid":
        try:
            return cls(tuple((str(s), int(t)) for s, t in d["points"]),
                       {str(s): tuple(int(t) for t in v) for s, v in dict(d.get("logged", {})).items()},
                       {str(s): (int(r[0]), int(r[1])) for s, r in dict(d.get("ranges", {})).items()})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise BomixError(f"malformed fidelity grid {dict(d)!r} ({exc}): rebuild the simulator") from None
