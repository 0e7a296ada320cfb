"""What a policy asks for (`RunSpec`) and what a backend returns (`RunResult`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.config import ControllerConfig
from bomix.space import Fidelity, Mixture

STATUSES = ("ok", "failed", "diverged")

#: the only run ids bomix writes or accepts from a store: ``r`` + 5..12 digits (never a path)
RUN_ID_RE = re.compile(r"r[0-9]{5,12}")


def run_id_for(index: int) -> str:
    """The run id of the campaign's ``index``-th dispatched run (``r00042``)."""
    return f"r{int(index):05d}"


#: keys a spec's ``meta`` may carry (policy state; the campaign's retry bookkeeping; the trainer's
#: allowlisted in-run controller, whose name the trainer checks against its own allowlist).
#: A spec read from a store with any other key is refused: a store is data, never code.
SPEC_META_KEYS = frozenset({"gp", "hb", "retry_of", "attempt", "controller", "controller_kwargs",
                            "controller_every"})


def validate_meta(meta: object, what: str = "meta") -> None:
    """Refuse a spec ``meta`` that is not None or a mapping with only :data:`SPEC_META_KEYS` keys."""
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        raise BomixError(f"{what} is a {type(meta).__name__}, not a mapping: refusing it")
    bad = sorted(str(k)[:40] for k in meta if k not in SPEC_META_KEYS)
    if bad:
        raise BomixError(f"{what} has keys {bad} outside the allowlist {sorted(SPEC_META_KEYS)}: refusing it")


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
    def from_dict(cls, d: Mapping, domains: Sequence[str] | None = None) -> "MixtureSchedule":
        return cls(tuple(int(s) for s in d["starts"]), tuple(Mixture(m, domains) for m in d["mixtures"]))


@dataclass(frozen=True)
class RunSpec:
    """One proxy run to execute.

    Args:
        mixture: static mixture (or the schedule's average when ``schedule`` is set).
        scale: a scale name of the ladder.
        steps: training steps (the run's curve goes up to here).
        seed: run seed (the campaign fills it when a policy leaves it None).
        schedule: optional mixture schedule (backends with ``supports_schedule`` only).
        resume_from: run id of an earlier run of the same mixture and scale to continue.
        resume_step: steps that earlier run reached (only ``steps - resume_step`` cost).
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
        sched = d.get("schedule")
        return cls(
            mixture=Mixture(d["mixture"], domains),
            scale=str(d["scale"]),
            steps=int(d["steps"]),
            seed=d.get("seed"),
            schedule=None if sched is None else MixtureSchedule.from_dict(sched, domains),
            resume_from=d.get("resume_from"),
            resume_step=int(d.get("resume_step", 0)),
            run_id=d.get("run_id"),
            tag=d.get("tag", ""),
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
