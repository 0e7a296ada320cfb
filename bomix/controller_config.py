"""`ControllerConfig`: the JSON config an online run carries in ``RunSpec.controller``.

It is stored with the spec before dispatch, so a killed campaign re-runs the same controller, and
a host (trainer, synthetic) builds the controller from it with :func:`bomix.online.build_controller`
(an allowlist: nothing is imported from a name read from a spec).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bomix.errors import BomixError

APPLY = ("resample", "reweight")
REFERENCE_SOURCES = ("model", "curve")


@dataclass(frozen=True)
class ControllerConfig:
    """What an online run does during training.

    Attributes:
        kind: a registered controller (``bomix.online.CONTROLLERS``): odm, doremi, excess, aioli,
            ado, doge, skillit.
        every: update interval in steps (the controller changes its weights only at steps ``t`` with
            ``(t + 1) % every == 0``).
        apply: ``resample`` (batches drawn from the controller's weights) or ``reweight`` (batches
            drawn from the spec's mixture, per-domain loss weights from the controller).
        params: the method's parameters (only those that differ from its published defaults).
        reference: optional reference for excess-loss methods (JSON):
            ``{"source": "model", "run_id": str, "mixture": [K], "scale": str, "steps": int}``: a
            frozen model (the finished run ``run_id``; the host forwards it on every batch the
            controller asks for). ``{"source": "curve", "steps": [n], "losses": [[K] x n]}``:
            per-domain reference losses read from a stored curve (or a law fitted on the history);
            the controller uses them itself, the host does nothing.
    """

    kind: str
    every: int = 1
    apply: str = "resample"
    params: Mapping[str, Any] = field(default_factory=dict)
    reference: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise BomixError("controller.kind must be a name such as 'odm' or 'doremi'")
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise BomixError(f"controller.every must be an integer >= 1, got {self.every!r}")
        if self.apply not in APPLY:
            raise BomixError(f"controller.apply must be one of {APPLY}, got {self.apply!r}")
        if not isinstance(self.params, Mapping):
            raise BomixError("controller.params must be a mapping of parameter name -> value")
        ref = self.reference
        if ref is not None:
            if not isinstance(ref, Mapping) or ref.get("source") not in REFERENCE_SOURCES:
                raise BomixError(f"controller.reference needs source in {REFERENCE_SOURCES}, got {ref!r}")
            if ref["source"] == "curve":
                steps, losses = ref.get("steps"), ref.get("losses")
                if not steps or not losses or len(steps) != len(losses):
                    raise BomixError("a curve reference needs 'steps' and one 'losses' row (K values) per step")
                if any(not all(isinstance(x, (int, float)) and math.isfinite(x) for x in row) for row in losses):
                    raise BomixError("a curve reference's losses must be finite numbers")
            elif ref["source"] == "model" and not ref.get("run_id") and not ref.get("mixture"):
                raise BomixError("a model reference needs the reference run's 'run_id' (and its 'mixture')")
        try:
            json.dumps(self.to_dict())
        except (TypeError, ValueError) as exc:
            raise BomixError(f"controller config must be JSON-serialisable: {exc}") from None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "every": int(self.every), "apply": self.apply,
                "params": dict(self.params),
                "reference": None if self.reference is None else dict(self.reference)}

    @classmethod
    def from_dict(cls, d: Mapping | "ControllerConfig") -> "ControllerConfig":
        """Build from a mapping (a stored spec, a YAML node); unknown keys are an error."""
        if isinstance(d, ControllerConfig):
            return d
        if not isinstance(d, Mapping):
            raise BomixError(f"controller must be a mapping with a 'kind', got {type(d).__name__}")
        unknown = set(d) - {"kind", "every", "apply", "params", "reference"}
        if unknown:
            raise BomixError(f"unknown controller key(s) {sorted(unknown)}: use kind, every, apply, params, reference")
        if "kind" not in d:
            raise BomixError("controller config has no 'kind': name a controller such as 'odm'")
        every = d.get("every", 1)
        if isinstance(every, float) and every.is_integer():
            every = int(every)
        return cls(kind=d["kind"], every=every, apply=d.get("apply", "resample"),
                   params=dict(d.get("params") or {}), reference=d.get("reference"))
