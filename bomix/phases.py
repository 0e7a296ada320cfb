"""Multi-phase search spaces: a run trained on a schedule of P mixtures, one per phase.

Phase ``p`` takes a fraction ``f_p`` of the run's *own* steps (so a proxy of ``S`` steps is a miniature of the
target run: its phase boundaries sit at ``round(cumsum(f) * S)``) and trains on mixture ``w_p``. The search
space is the product of P simplices (times the fractions, when they are searched). A point of it is stored as
one flat mixture over the ``P x K`` *phase domains* ``"<phase>/<domain>"``:

    x_{p,i} = f_p * w_{p,i},     sum_{p,i} x_{p,i} = 1,     sum_i x_{p,i} = f_p,

so every seam that speaks of mixtures (store, history, GP coordinates, policies) works unchanged, and the
fractions are the blocks' sums. The whole run's token share of domain ``i`` is ``sum_p x_{p,i}``: the problem's
weight bounds and the repetition cap apply to it (counted over the whole run), not to each phase.

:class:`Phases` is the configuration (``problem.phases``); :class:`PhasedSpace` the space (sampling, projection
and feasibility on this polytope); :meth:`PhasedSpace.schedule` turns a point into the
:class:`~bomix.runs.MixtureSchedule` a backend runs (:mod:`bomix.backends.phased`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bomix.errors import BomixError
from bomix.fidelity import Fidelity
from bomix.mixture import SIMPLEX_TOL, Mixture
from bomix.phases_polytope import PhasePolytope
from bomix.runs import MixtureSchedule
from bomix.space import Space, _project

SEP = "/"


@dataclass(frozen=True)
class Phase:
    """One phase: its name, its share of the run's steps, fixed (``lo == hi``) or searched in ``[lo, hi]``, and
    optionally a *pinned* mixture (``mixture``: domain -> weight pairs or a list of K weights, as configured;
    resolved against the domains by :meth:`pinned_weights`): the space then searches only the other phases."""

    name: str
    lo: float
    hi: float
    mixture: tuple | None = None

    @property
    def fixed(self) -> bool:
        return self.lo == self.hi

    @property
    def pinned(self) -> bool:
        return self.mixture is not None

    def to_dict(self) -> dict:
        out = {"name": self.name, "fraction": self.lo if self.fixed else [self.lo, self.hi]}
        if self.mixture is not None:
            named = all(isinstance(x, tuple) for x in self.mixture)
            out["mixture"] = dict(self.mixture) if named else list(self.mixture)
        return out

    def pinned_weights(self, domains: Sequence[str]) -> np.ndarray:
        """``(K,)`` the pinned mixture over ``domains`` (unnamed domains 0), or a one-line error."""
        what = f"problem.phases ({self.name}).mixture"
        if all(isinstance(x, tuple) for x in self.mixture):
            unknown = [d for d, _ in self.mixture if d not in domains]
            if unknown:
                raise BomixError(f"{what} names unknown domain(s) {unknown}: the domains are {list(domains)}")
            named = dict(self.mixture)
            w = np.array([named.get(d, 0.0) for d in domains], dtype=float)
        else:
            if len(self.mixture) != len(domains):
                raise BomixError(f"{what} has {len(self.mixture)} weights for {len(domains)} domains "
                                 f"{list(domains)}: give one weight per domain (or a mapping)")
            w = np.array(self.mixture, dtype=float)
        if abs(w.sum() - 1.0) > 1e-6:
            raise BomixError(f"{what} sums to {w.sum():.6g}, not 1: fix the weights")
        return w / w.sum()


@dataclass(frozen=True)
class Phases:
    """The phases of every run, in training order (``problem.phases``)."""

    phases: tuple[Phase, ...]

    @classmethod
    def from_config(cls, cfg) -> "Phases | None":
        """``[{name: pretrain, fraction: 0.8}, {name: anneal, fraction: [0.1, 0.3]}]`` (or None / [] = one phase).

        Every bad entry is a one-line :class:`BomixError`."""
        if cfg is None or isinstance(cfg, Phases):
            return cfg
        if isinstance(cfg, (str, bytes, Mapping)) or not isinstance(cfg, Sequence):
            raise BomixError("problem.phases must be a list of {name: ..., fraction: f or [lo, hi]}, "
                             f"got {type(cfg).__name__}")
        if len(cfg) == 0:
            return None
        if len(cfg) < 2:
            raise BomixError("problem.phases needs >= 2 phases (one phase is a static mixture: drop problem.phases)")
        out = []
        for i, p in enumerate(cfg):
            if not isinstance(p, Mapping) or not {"name", "fraction"} <= set(p) <= {"name", "fraction", "mixture"}:
                raise BomixError(f"problem.phases[{i}] must be a mapping with exactly 'name' and 'fraction' (and "
                                 f"optionally a pinned 'mixture'), got {p!r}")
            name = p["name"]
            if not isinstance(name, str) or not name.strip() or SEP in name or name != name.strip():
                raise BomixError(f"problem.phases[{i}].name must be a non-empty name without '{SEP}' or "
                                 f"surrounding spaces, got {name!r}")
            lo, hi = _fraction(p["fraction"], f"problem.phases[{i}].fraction ({name})")
            mix = None if p.get("mixture") is None else _pinned(p["mixture"], f"problem.phases[{i}].mixture ({name})")
            if mix is not None and lo != hi:
                raise BomixError(f"problem.phases[{i}] ({name}) pins a mixture but searches its fraction "
                                 f"[{lo}, {hi}]: a pinned phase needs a fixed fraction")
            out.append(Phase(name, lo, hi, mix))
        if all(p.pinned for p in out):
            raise BomixError("problem.phases pins the mixture of every phase: leave at least one phase unpinned "
                             "(or run that one schedule directly)")
        names = [p.name for p in out]
        if len(set(names)) != len(names):
            raise BomixError(f"problem.phases has duplicate names {names}: name each phase once")
        lo, hi = sum(p.lo for p in out), sum(p.hi for p in out)
        if lo > 1 + 1e-9 or hi < 1 - 1e-9:
            raise BomixError(f"problem.phases fractions cannot sum to 1 (lowest sum {lo:.4g}, highest {hi:.4g}): "
                             "fix the fractions so that the phases fill the run")
        return cls(tuple(out))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)

    @property
    def n(self) -> int:
        return len(self.phases)

    @property
    def lo(self) -> np.ndarray:
        return np.array([p.lo for p in self.phases])

    @property
    def hi(self) -> np.ndarray:
        return np.array([p.hi for p in self.phases])

    @property
    def fixed(self) -> bool:
        """Every fraction fixed (the blocks' sums are equalities)."""
        return all(p.fixed for p in self.phases)

    def to_list(self) -> list[dict]:
        return [p.to_dict() for p in self.phases]


def _fraction(v, what: str) -> tuple[float, float]:
    if isinstance(v, bool):
        raise BomixError(f"{what} must be a number in (0, 1) or a range [lo, hi], got {v!r}")
    if isinstance(v, (int, float)):
        lo = hi = float(v)
    elif isinstance(v, Sequence) and not isinstance(v, (str, bytes)) and len(v) == 2 \
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        lo, hi = float(v[0]), float(v[1])
    else:
        raise BomixError(f"{what} must be a number in (0, 1) or a range [lo, hi], got {v!r}")
    if not (0 < lo <= hi < 1):
        raise BomixError(f"{what} must lie in (0, 1) with lo <= hi, got {v!r}")
    return lo, hi


def _pinned(v, what: str) -> tuple:
    """A pinned mixture as configured (``{domain: w}`` or ``[w, ...]``), checked as plain non-negative numbers."""
    def num(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and x >= 0
    if isinstance(v, Mapping) and v and all(isinstance(k, str) for k in v) and all(num(x) for x in v.values()):
        return tuple((str(k), float(x)) for k, x in v.items())
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)) and v and all(num(x) for x in v):
        return tuple(float(x) for x in v)
    raise BomixError(f"{what} must be a mapping domain -> weight or a list of weights (non-negative numbers "
                     f"summing to 1), got {str(v)[:80]!r}")


def phase_domains(phases: Phases, domains: Sequence[str]) -> tuple[str, ...]:
    """The flat coordinates' names, phase-major: ``("pretrain/code", ..., "anneal/code", ...)``."""
    return tuple(f"{p}{SEP}{d}" for p in phases.names for d in domains)


@dataclass
class PhasedSpace(PhasePolytope, Space):
    """A :class:`Space` over ``P x K`` phase domains (module docstring); built with :meth:`of`.

    Extra attributes: ``phases``; ``base`` (the one-phase space: domains, whole-run bounds, tokens, cap).
    The inherited ``lower`` / ``upper`` are per-coordinate and loose (0 and ``min(f_p^max, upper_i)``); the
    polytope itself is enforced by :meth:`project`, :meth:`sample` (:class:`~bomix.phases_polytope.PhasePolytope`)
    and :meth:`feasible`.
    """

    phases: Phases | None = None
    base: Space | None = None
    _E: np.ndarray = field(init=False, repr=False)
    _pin: np.ndarray = field(init=False, repr=False)  # (P, K) f_p * pinned w_p (0 for free phases)
    _pinned: np.ndarray = field(init=False, repr=False)  # (P,) bool

    @classmethod
    def of(cls, base: Space, phases: Phases) -> "PhasedSpace":
        if isinstance(base, PhasedSpace):
            raise BomixError("the backend's space already has phases: declare problem.phases once")
        k, P = base.k, phases.n
        upper = np.minimum(np.repeat(phases.hi, k), np.tile(base.upper, P))
        tokens = None if base.tokens is None else np.concatenate(
            [base.tokens * f for f in _mid_fractions(phases)])
        return cls(domains=phase_domains(phases, base.domains), scales=base.scales, min_steps=base.min_steps,
                   max_steps=base.max_steps, target=base.target, step_grid=base.step_grid,
                   lower=np.zeros(k * P), upper=upper, tokens=tokens, max_epochs=None,
                   tokens_per_step=base.tokens_per_step, grid=base.grid, phases=phases, base=base)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.phases is None or self.base is None:
            raise BomixError("a PhasedSpace is built with PhasedSpace.of(space, phases)")
        self._E = np.kron(np.eye(self.phases.n), np.ones((1, self.base.k)))  # (P, P*K): block sums
        self._pinned = np.array([p.pinned for p in self.phases.phases])
        self._pin = np.array([p.lo * p.pinned_weights(self.base.domains) if p.pinned else np.zeros(self.base.k)
                              for p in self.phases.phases])
        if self._pinned.any():
            self._check_pins()

    def _check_pins(self) -> None:
        """One-line error when the pinned phases leave no schedule within the whole-run bounds."""
        lo, up = self.base.lower, self.base.upper
        fixed = self._pin.sum(0)
        free = 1.0 - float(self.phases.lo[self._pinned].sum())
        over = [d for d, a, u in zip(self.base.domains, fixed, up) if a > u + 1e-9]
        if over or np.clip(lo - fixed, 0, None).sum() > free + 1e-9:
            raise BomixError(f"the pinned phases' mixtures leave no schedule within the whole-run bounds "
                             f"(lower={lo.round(4).tolist()}, upper={up.round(4).tolist()}"
                             f"{', exceeded on ' + str(over) if over else ''}): change the pinned mixture or "
                             "the bounds")

    # ----- structure ---------------------------------------------------------------------------
    @property
    def n_phases(self) -> int:
        return self.phases.n

    def blocks(self, x: np.ndarray) -> np.ndarray:
        """``(n, P*K) -> (n, P, K)`` the per-phase parts ``f_p * w_p``."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return x.reshape(x.shape[0], self.phases.n, self.base.k)

    @property
    def pinned(self) -> np.ndarray:
        """``(P,)`` whether each phase's mixture is pinned (fixed by the config, not searched)."""
        return self._pinned.copy()

    def _pin_blocks(self, x: np.ndarray) -> np.ndarray:
        """``x`` with every pinned phase's block set to its fixed ``f_p * w_p`` (the input when none is pinned)."""
        if not self._pinned.any():
            return x
        b = self.blocks(x).copy()
        b[:, self._pinned] = self._pin[self._pinned]
        return b.reshape(b.shape[0], -1)

    def fractions(self, x: np.ndarray) -> np.ndarray:
        """``(n, P)`` the phases' shares of the run."""
        return self.blocks(x).sum(-1)

    def whole_run(self, x: np.ndarray) -> np.ndarray:
        """``(n, K)`` the whole run's token shares ``sum_p x_{p,i}``."""
        return self.blocks(x).sum(1)

    def phase_mixtures(self, x: np.ndarray) -> np.ndarray:
        """``(n, P, K)`` each phase's own mixture ``w_p = x_p / f_p`` (uniform where ``f_p = 0``)."""
        b = self.blocks(x)
        f = b.sum(-1, keepdims=True)
        return np.where(f > 0, b / np.where(f > 0, f, 1.0), 1.0 / self.base.k)

    def compose(self, w: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        """Per-phase mixtures ``(n, P, K)`` and fractions ``(n, P)`` or ``(P,)`` -> flat points ``(n, P*K)``."""
        w = np.asarray(w, dtype=float).reshape(-1, self.phases.n, self.base.k)
        f = np.broadcast_to(np.asarray(fractions, dtype=float), (w.shape[0], self.phases.n))
        return (w * f[..., None]).reshape(w.shape[0], -1)

    def plan(self, mixture: Mixture | np.ndarray, steps: int) -> list[tuple[str, int, float, np.ndarray]]:
        """What a run of ``steps`` steps trains on: ``(phase, start_step, fraction, w_p (K,))`` for each phase that
        gets a step, in order. Phase ``p`` starts at ``round(F_{p-1} * steps)`` (``F`` the cumulative fractions)."""
        x = np.asarray(mixture.weights if isinstance(mixture, Mixture) else mixture, dtype=float)
        w, f = self.phase_mixtures(x)[0], self.fractions(x)[0]
        bounds = np.rint(np.concatenate([[0.0], np.cumsum(f)]) * int(steps)).astype(int)
        bounds[-1] = max(int(steps), 1)
        out: list[tuple[str, int, float, np.ndarray]] = []
        for p, name in enumerate(self.phases.names):
            if bounds[p + 1] > bounds[p]:
                out.append((name, 0 if not out else int(bounds[p]), float(f[p]), w[p]))
        return out or [(self.phases.names[-1], 0, float(f[-1]), w[-1])]

    def schedule(self, mixture: Mixture | np.ndarray, steps: int) -> MixtureSchedule:
        """The :class:`MixtureSchedule` over the base domains of :meth:`plan` (what the wrapped backend runs)."""
        parts = self.plan(mixture, steps)
        return MixtureSchedule(tuple(s for _, s, _, _ in parts),
                               tuple(Mixture(w, self.base.domains) for _, _, _, w in parts))

    # ----- constraints -------------------------------------------------------------------------
    def _aggregate_bounds(self, fid: Fidelity | None) -> tuple[np.ndarray, np.ndarray]:
        return self.base.lower, self.base.upper_at(fid)

    def _aggregate_active(self, fid: Fidelity | None) -> bool:
        lo, up = self._aggregate_bounds(fid)
        return bool(np.any(lo > 0) or np.any(up < 1))

    def upper_at(self, fid: Fidelity | None = None) -> np.ndarray:
        """``(P*K,)`` loose per-coordinate upper bounds ``min(f_p^max, whole-run upper_i)``."""
        return np.minimum(np.repeat(self.phases.hi, self.base.k), np.tile(self.base.upper_at(fid), self.phases.n))

    def feasible(self, w: np.ndarray, fid: Fidelity | None = None, tol: float = 1e-6) -> np.ndarray:
        """``(n, P*K) -> (n,)``: non-negative, sum 1, fractions in range, whole-run bounds and cap."""
        w = np.atleast_2d(np.asarray(w, dtype=float))
        f, agg = self.fractions(w), self.whole_run(w)
        lo, up = self._aggregate_bounds(fid)
        pins = np.all(np.abs(self.blocks(w)[:, self._pinned] - self._pin[self._pinned]) <= tol, axis=(1, 2))
        return (np.all(w >= -tol, axis=-1) & (np.abs(w.sum(-1) - 1) < 1e-5)
                & np.all(f >= self.phases.lo - tol, axis=-1) & np.all(f <= self.phases.hi + tol, axis=-1)
                & np.all(agg >= lo - tol, axis=-1) & np.all(agg <= up + tol, axis=-1) & pins)

    def check_mixture(self, m: Mixture, fid: Fidelity | None = None) -> None:
        if not self.feasible(m.weights, fid)[0]:
            lo, up = self._aggregate_bounds(fid)
            f = self.fractions(m.weights)[0].round(4).tolist()
            pins = [p.name for p in self.phases.phases if p.pinned]
            raise BomixError(
                f"{m} is not a schedule of the space: phase fractions {f} must lie in "
                f"{[[p.lo, p.hi] for p in self.phases.phases]}"
                f"{', the pinned phases ' + str(pins) + ' keep their mixtures' if pins else ''} and the whole "
                f"run's shares within lower={lo.round(4).tolist()}, upper={up.round(4).tolist()}: "
                "choose a schedule inside them")

    def has_bounds(self, fid: Fidelity | None = None) -> bool:
        return True  # the blocks' sums are constraints: designs sample with :meth:`sample`

    def center(self, fid: Fidelity | None = None) -> Mixture:
        """Every phase uniform, the fractions at the middle of their ranges (projected onto the bounds)."""
        x = self.compose(np.full((1, self.phases.n, self.base.k), 1.0 / self.base.k), _mid_fractions(self.phases))
        return Mixture(self.project(x, fid)[0], self.domains)

    # ----- description -------------------------------------------------------------------------
    def mixture(self, value) -> Mixture:
        """A flat mapping (``{"anneal/code": 0.1, ...}``), a nested one (``{anneal: {code: 0.5, ...}, ...}``, each
        phase's own mixture, fractions at the middle of their ranges unless given as ``{phase: {fraction: f,
        mixture: {...}}}``) or a sequence of ``P*K`` weights."""
        if isinstance(value, Mapping) and value and set(value) <= set(self.phases.names):
            return self._nested(value)
        return super().mixture(value)

    def _nested(self, value: Mapping) -> Mixture:
        missing = [p.name for p in self.phases.phases if p.name not in value and not p.pinned]
        if missing:
            raise BomixError(f"schedule misses phase(s) {missing}: give a mixture for each of {list(self.phases.names)}")
        mids = _mid_fractions(self.phases)
        w, f = [], []
        for p, mid, pin in zip(self.phases.names, mids, self._pin):
            v = value.get(p, pin / max(pin.sum(), 1e-300))  # a pinned phase may be left out
            if isinstance(v, Mapping) and set(v) == {"fraction", "mixture"}:
                f.append(float(v["fraction"]))
                v = v["mixture"]
            else:
                f.append(mid)
            w.append(self.base.mixture(v).weights)
        if abs(sum(f) - 1) > SIMPLEX_TOL:
            raise BomixError(f"the schedule's phase fractions {f} sum to {sum(f):.6g}, not 1: fix them")
        return Mixture(self.compose(np.array(w)[None], np.array(f))[0], self.domains)

    def describe(self) -> dict:
        return {**self.base.describe(), "phases": self.phases.to_list()}

    def describe_mixture(self, m: Mixture) -> list[dict]:
        """``[{phase, fraction, mixture: {domain: w}}]``: a point as a schedule (summaries, JSON)."""
        return schedule_of(dict(zip(self.domains, m.weights.tolist())), self.phases.names)

    def with_constraints(self, lower=None, upper=None, max_epochs: float | None = None, tokens=None,
                         target: Fidelity | None = None, step_grid: Sequence[int] | None = None) -> "PhasedSpace":
        """The same phases over the base space with problem-level (whole-run) constraints applied."""
        base = self.base.with_constraints(lower=lower, upper=upper, max_epochs=max_epochs, tokens=tokens,
                                          target=target, step_grid=step_grid)
        return PhasedSpace.of(base, self.phases)


def schedule_of(point: Mapping[str, float], names: Sequence[str]) -> list[dict]:
    """A flat point ``{"<phase>/<domain>": x}`` as ``[{phase, fraction, mixture: {domain: w}}]`` for the phases
    ``names`` (in order; a phase's mixture is uniform when its share is 0). Reads only keys of those phases."""
    out = []
    for name in names:
        part = {k[len(name) + 1:]: float(v) for k, v in point.items() if k.startswith(f"{name}{SEP}")}
        f = sum(part.values())
        mix = {d: (v / f if f > 0 else 1.0 / len(part)) for d, v in part.items()}
        out.append({"phase": name, "fraction": f, "mixture": mix})
    return out


def _mid_fractions(phases: Phases) -> np.ndarray:
    """``(P,)`` fractions at the middle of their ranges, then projected to sum to 1 within them."""
    mid = 0.5 * (phases.lo + phases.hi)
    return _project(mid[None], phases.lo, phases.hi)[0]


def phased(space: Space, phases: Phases | None) -> Space:
    """``space`` itself without phases, else its :class:`PhasedSpace`."""
    return space if phases is None else PhasedSpace.of(space, phases)
