"""What a policy asks for (`RunSpec`) and what a backend returns (`RunResult`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.controller_config import ControllerConfig
from bomix.space import Fidelity, Mixture

STATUSES = ("ok", "failed", "diverged")

#: the only run ids bomix writes or accepts from a store: ``r`` + 5..12 digits (never a path)
RUN_ID_RE = re.compile(r"r[0-9]{5,12}")


def run_id_for(index: int) -> str:
    """The run id of the campaign's ``index``-th dispatched run (``r00042``)."""
    return f"r{int(index):05d}"


#: keys a spec's ``meta`` may carry (policy state: BO hyperparameters, those of the outcome constraints' GPs
#: by constraint, Hyperband rungs; the campaign's retry bookkeeping). A spec read from a store with any other key
#: is refused: a store is data, never code. (Online controllers travel in ``RunSpec.controller``, checked
#: separately.)
SPEC_META_KEYS = frozenset({"gp", "gp_constraints", "gp_objectives", "hb", "retry_of", "attempt"})


#: the keys of a stored spec (:meth:`RunSpec.to_dict`); a stored spec with any other key is refused
SPEC_KEYS = ("mixture", "scale", "steps", "seed", "schedule", "resume_from", "resume_step", "run_id", "tag", "meta",
             "controller")
#: run seeds are integers in [0, MAX_SEED] (what numpy's and torch's generators accept)
MAX_SEED = 2**63 - 1


def validate_meta(meta: object, what: str = "meta") -> None:
    """Refuse a spec ``meta`` that is not None or a mapping with only :data:`SPEC_META_KEYS` keys, each
    of its shape: ``gp`` {name: [numbers]}, ``gp_constraints`` {constraint: {name: [numbers]}}, ``gp_objectives``
    {objective: {name: [numbers]}} (``mobo``), ``hb`` [bracket, rung], ``retry_of`` a run id, ``attempt`` >= 1."""
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        raise BomixError(f"{what} is a {type(meta).__name__}, not a mapping: refusing it")
    bad = sorted(str(k)[:40] for k in meta if k not in SPEC_META_KEYS)
    if bad:
        raise BomixError(f"{what} has keys {bad} outside the allowlist {sorted(SPEC_META_KEYS)}: refusing it")
    gp = meta.get("gp")
    if gp is not None and not _is_hypers(gp):
        raise BomixError(f"{what}['gp'] is not a mapping of parameter name -> list of numbers: refusing it")
    for key, of in (("gp_constraints", "constraint"), ("gp_objectives", "objective")):
        gpc = meta.get(key)
        if gpc is not None and not (isinstance(gpc, Mapping) and all(
                isinstance(k, str) and _is_hypers(v) for k, v in gpc.items())):
            raise BomixError(f"{what}[{key!r}] is not a mapping of {of} -> (parameter name -> list of "
                             "numbers): refusing it")
    hb = meta.get("hb")
    if hb is not None and not (isinstance(hb, list) and len(hb) == 2 and all(_is_int(x) and x >= 0 for x in hb)):
        raise BomixError(f"{what}['hb'] is {short(hb, 40)}, not [bracket, rung] (two integers >= 0): refusing it")
    if meta.get("retry_of") is not None:
        validate_run_id(meta["retry_of"], f"{what}['retry_of']")
    attempt = meta.get("attempt")
    if attempt is not None and not (_is_int(attempt) and attempt >= 1):
        raise BomixError(f"{what}['attempt'] is {short(attempt, 20)}, not an integer >= 1: refusing it")


def _is_hypers(gp: object) -> bool:
    """A GP's hyperparameters as stored: parameter name -> list of numbers."""
    return isinstance(gp, Mapping) and all(
        isinstance(k, str) and isinstance(v, list) and all(_is_number(x) for x in v) for k, v in gp.items())


#: what a domain, metric or scale name may be: 1-200 characters, no control characters, braces, quotes or
#: backslashes (so a JSON document or anything else pasted into a name field is refused, never used)
NAME_RE = re.compile(r'[^\x00-\x1f\x7f{}"\\]{1,200}')


def is_name(x: object) -> bool:
    """Whether ``x`` is a usable domain, metric or scale name (:data:`NAME_RE`)."""
    return isinstance(x, str) and NAME_RE.fullmatch(x) is not None


def short(value: object, n: int = 40) -> str:
    """``repr(value)`` cut to ``n`` characters (a value from outside quoted in a one-line error)."""
    text = repr(value)
    return text if len(text) <= n else text[:n - 3] + "..."


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _weights(x: object, what: str) -> list[float]:
    """A JSON list of finite numbers (a stored mixture), else a BomixError naming ``what``."""
    if not isinstance(x, list) or not x or not all(_is_number(v) for v in x):
        raise BomixError(f"{what} is {short(x, 60)}, not a list of numbers")
    return [float(v) for v in x]


def _int_field(d: Mapping, key: str, lo: int, hi: int | None = None, default: object = ...) -> int:
    if key not in d:
        if default is ...:
            raise BomixError(f"it has no {key!r}")
        return default  # type: ignore[return-value]
    v = d[key]
    if not _is_int(v) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise BomixError(f"{key} is {short(v, 40)}, not an integer {rng}")
    return int(v)


def _str_field(d: Mapping, key: str, optional: bool) -> str | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or (not optional and not v):
        raise BomixError(f"{key} is {short(v, 40)}, not a{'' if optional else ' non-empty'} string")
    return v


def validate_run_id(run_id: object, what: str = "run_id") -> str:
    """``run_id`` if it matches :data:`RUN_ID_RE` (so it is safe as a file name), else a BomixError.

    Checkpoint paths, log names and anything else derived from a run id must go through this.
    """
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
        raise BomixError(f"{what}={str(run_id)[:80]!r} is not a bomix run id (r + 5-12 digits): "
                         "the store was edited or crafted; refusing to use it")
    return run_id


@dataclass(frozen=True)
class MixtureSchedule:
    """Piecewise-constant mixture over training steps (online methods).

    ``mixtures[i]`` holds from ``starts[i]`` (inclusive) until ``starts[i + 1]``; ``starts[0] == 0``.
    """

    starts: tuple[int, ...]
    mixtures: tuple[Mixture, ...]

    def __post_init__(self) -> None:
        if not self.starts or self.starts[0] != 0:
            raise BomixError("a mixture schedule must start at step 0")
        if len(self.starts) != len(self.mixtures):
            raise BomixError("a mixture schedule needs one mixture per start step")
        if any(b <= a for a, b in zip(self.starts, self.starts[1:])):
            raise BomixError("mixture schedule start steps must increase strictly")

    def at(self, step: int) -> Mixture:
        """The mixture in force at ``step``."""
        i = int(np.searchsorted(np.asarray(self.starts), step, side="right")) - 1
        return self.mixtures[max(i, 0)]

    def average(self, steps: int) -> Mixture:
        """Step-weighted average mixture over ``[0, steps)``."""
        bounds = list(self.starts) + [max(steps, self.starts[-1])]
        w = np.zeros(len(self.mixtures[0]))
        for a, b, m in zip(bounds, bounds[1:], self.mixtures):
            w += max(0, min(b, steps) - a) * m.weights
        return Mixture(w / w.sum(), self.mixtures[0].domains)

    def to_dict(self) -> dict:
        return {"starts": list(self.starts), "mixtures": [m.to_list() for m in self.mixtures]}

    @classmethod
    def from_dict(cls, d: Mapping, domains: Sequence[str] | None = None, exact: bool = False) -> "MixtureSchedule":
        """``exact``: a stored schedule, checked strictly and its weights kept bit for bit (never renormalised)."""
        if not exact:
            return cls(tuple(int(s) for s in d["starts"]), tuple(Mixture(m, domains) for m in d["mixtures"]))
        if not isinstance(d, Mapping) or set(d) != {"starts", "mixtures"}:
            raise BomixError("schedule is not a mapping with exactly 'starts' and 'mixtures'")
        starts, mixes = d["starts"], d["mixtures"]
        if not isinstance(starts, list) or not all(_is_int(s) for s in starts) or not isinstance(mixes, list):
            raise BomixError("schedule starts is not a list of integers (or mixtures not a list)")
        return cls(tuple(int(s) for s in starts),
                   tuple(Mixture(_weights(m, "a schedule mixture"), domains, renormalize=False) for m in mixes))


@dataclass(frozen=True)
class RunSpec:
    """One proxy run to execute.

    Args:
        mixture: static mixture (or the schedule's average when ``schedule`` is set).
        scale: a scale name of the ladder.
        steps: training steps (the run's curve goes up to here).
        seed: run seed (the campaign fills it when a policy leaves it None).
        schedule: optional mixture schedule (backends with ``supports_schedule`` only).
        resume_from: run id of an earlier run of the same mixture and scale to continue, or on a phased space
            the parent of a *branch*: an earlier run of the same scale and steps whose schedule this one shares up
            to the phase boundary ``resume_step`` (:mod:`bomix.campaign.branches`).
        resume_step: steps that earlier run reached, or a branch's boundary (only ``steps - resume_step`` cost).
        run_id: assigned by the campaign.
        tag: a free label set by the policy (e.g. "init", "bo"), stored with the run.
        meta: JSON-serialisable policy state that travels with the spec (e.g. the GP hyperparameters
            the decision used), so a resumed campaign rebuilds the policy exactly from the store.
        controller: optional online controller (:class:`bomix.online.ControllerConfig`, or its dict)
            that changes the mixture during the run; ``mixture`` is then the initial (or base)
            mixture. Backends with ``supports_controller`` only.
    """

    mixture: Mixture
    scale: str
    steps: int
    seed: int | None = None
    schedule: MixtureSchedule | None = None
    resume_from: str | None = None
    resume_step: int = 0
    run_id: str | None = None
    tag: str = ""
    meta: Mapping[str, Any] | None = None
    controller: ControllerConfig | None = None

    def __post_init__(self) -> None:
        if self.controller is not None and not isinstance(self.controller, ControllerConfig):
            object.__setattr__(self, "controller", ControllerConfig.from_dict(self.controller))

    @property
    def fidelity(self) -> Fidelity:
        return Fidelity(self.scale, int(self.steps))

    @property
    def start_step(self) -> int:
        """The step this run starts from: ``resume_step`` when it continues ``resume_from``, else 0."""
        return int(self.resume_step) if self.resume_from else 0

    def with_(self, **kw) -> "RunSpec":
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return {
            "mixture": self.mixture.to_list(),
            "scale": self.scale,
            "steps": int(self.steps),
            "seed": self.seed,
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
            "resume_from": self.resume_from,
            "resume_step": int(self.resume_step),
            "run_id": self.run_id,
            "tag": self.tag,
            "meta": self.meta,
            "controller": None if self.controller is None else self.controller.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping, domains: Sequence[str] | None = None) -> "RunSpec":
        """A spec from :meth:`to_dict` (a stored one: data from outside), checked field by field.

        Every key must be one of :data:`SPEC_KEYS` with its type: ``steps`` an int >= 1, ``seed`` None or an
        int in [0, :data:`MAX_SEED`], ``resume_step`` in [0, steps), ``meta`` allowlisted
        (:func:`validate_meta`), ... The mixture (and a schedule's) is validated but kept bit for bit, never
        renormalised, so a resumed run trains on exactly the weights it was dispatched with.

        Raises:
            BomixError: one line naming the field that is wrong.
        """
        if not isinstance(d, Mapping):
            raise BomixError(f"it is a JSON {type(d).__name__}, not an object")
        unknown = sorted(str(k)[:40] for k in d if k not in SPEC_KEYS)
        if unknown:
            raise BomixError(f"it has unknown key(s) {unknown}")
        if "mixture" not in d:
            raise BomixError("it has no 'mixture'")
        mixture = Mixture(_weights(d["mixture"], "mixture"), domains, renormalize=False)
        steps = _int_field(d, "steps", 1)
        seed = d.get("seed")
        if seed is not None:
            seed = _int_field(d, "seed", 0, MAX_SEED)
        sched = d.get("schedule")
        validate_meta(d.get("meta"), "meta")
        return cls(
            mixture=mixture,
            scale=_str_field(d, "scale", optional=False),
            steps=steps,
            seed=seed,
            schedule=None if sched is None else MixtureSchedule.from_dict(sched, domains, exact=True),
            resume_from=_str_field(d, "resume_from", optional=True),
            resume_step=_int_field(d, "resume_step", 0, steps - 1, default=0),
            run_id=_str_field(d, "run_id", optional=True),
            tag=_str_field(d, "tag", optional=True) or "",
            meta=d.get("meta"),
            controller=None if d.get("controller") is None else ControllerConfig.from_dict(d["controller"]),
        )


@dataclass
class Curve:
    """A learning curve: every evaluated step x every metric.

    Args:
        steps: ``(n,)`` increasing evaluated steps.
        metrics: metric name -> ``(n,)`` values (NaN = not measured at that step).
    """

    steps: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.steps = np.asarray(self.steps, dtype=np.int64).reshape(-1)
        self.metrics = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in self.metrics.items()}
        for k, v in self.metrics.items():
            if v.shape != self.steps.shape:
                raise ValueError(f"metric {k!r} has {v.size} values for {self.steps.size} steps")

    def __len__(self) -> int:
        return int(self.steps.size)

    def row(self, i: int) -> dict[str, float]:
        return {k: float(v[i]) for k, v in self.metrics.items()}

    def final(self) -> dict[str, float]:
        """Metrics at the last evaluated step ({} for an empty curve)."""
        return self.row(-1) if len(self) else {}

    def at(self, step: int) -> dict[str, float] | None:
        idx = np.nonzero(self.steps == step)[0]
        return self.row(int(idx[0])) if idx.size else None

    def truncate(self, steps: int) -> "Curve":
        keep = self.steps <= steps
        return Curve(self.steps[keep], {k: v[keep] for k, v in self.metrics.items()})

    def concat(self, other: "Curve") -> "Curve":
        """This curve followed by the steps of ``other`` beyond its last step."""
        last = self.steps[-1] if len(self) else -1
        keep = other.steps > last
        names = sorted(set(self.metrics) | set(other.metrics))

        def col(c: "Curve", k: str) -> np.ndarray:
            return c.metrics.get(k, np.full(len(c), np.nan))

        return Curve(
            np.concatenate([self.steps, other.steps[keep]]),
            {k: np.concatenate([col(self, k), col(other, k)[keep]]) for k in names},
        )

    def to_dict(self) -> dict:
        return {"steps": self.steps.tolist(), "metrics": {k: v.tolist() for k, v in self.metrics.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Curve":
        return cls(np.asarray(d["steps"]), {k: np.asarray(v, dtype=float) for k, v in d["metrics"].items()})


@dataclass
class RunResult:
    """The outcome of one run.

    Args:
        spec: what was asked (with its run id).
        status: ``ok`` | ``failed`` | ``diverged``.
        curve: the learning curve up to ``spec.steps`` (for a continuation: the whole curve,
            earlier steps included).
        cost: cost actually used, in target-run equivalents.
        wall_time: seconds.
        error: the reason for a failed or diverged run.
        info: anything else the backend reports (e.g. realised average mixture, FLOPs).
    """

    spec: RunSpec
    status: str = "ok"
    curve: Curve = field(default_factory=lambda: Curve(np.zeros(0), {}))
    cost: float = 0.0
    wall_time: float = 0.0
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def fidelity(self) -> Fidelity:
        return self.spec.fidelity

    @property
    def mixture(self) -> Mixture:
        return self.spec.mixture
