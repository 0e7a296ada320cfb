"""The Backend seam: something that executes a `RunSpec` and returns a `RunResult`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from bomix.cost import CostModel
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.online import SignalCosts, build_controller
from bomix.runs import RunResult, RunSpec
from bomix.proposals import TrustRegion
from bomix.space import Fidelity, Mixture, Space


class Backend(ABC):
    """Runs proxy trainings (real or simulated).

    Subclasses set ``space`` (domains, ladder, target), ``metrics`` (names in a curve row),
    ``cost_model`` and ``default_objective``; simulators also implement :meth:`true_value`
    and :meth:`optimum` (only the campaign's evaluator calls those, never a policy).
    """

    name: str = "backend"
    space: Space
    metrics: tuple[str, ...]
    cost_model: CostModel
    default_objective: Objective
    supports_schedule: bool = False
    supports_continuation: bool = False
    #: hosts an online controller (``RunSpec.controller``, see :mod:`bomix.online.base`)
    supports_controller: bool = False

    @abstractmethod
    def run(self, spec: RunSpec) -> RunResult:
        """Execute ``spec``. Must not raise for a failed training: return status failed/diverged."""

    def cost(self, spec: RunSpec) -> float:
        """Predicted cost of ``spec`` in target-run equivalents (continuations pay extra steps)."""
        start = spec.resume_step if spec.resume_from else 0
        base = self.cost_model(spec.scale, spec.steps, start)
        return base * (1.0 + self.controller_overhead(spec)) if spec.controller is not None else base

    def check_controller(self, spec: RunSpec) -> None:
        """One-line error unless this backend can host ``spec.controller`` (checked before dispatch)."""
        if spec.controller is not None and not self.supports_controller:
            raise BomixError(f"backend {self.name} cannot run online controllers ({spec.controller.kind}): "
                             "use backend=synthetic or backend=trainer")

    def signal_costs(self, spec: RunSpec) -> SignalCosts:
        """Extra FLOPs of each controller signal in units of one training step (hosts override)."""
        return SignalCosts()

    def controller_overhead(self, spec: RunSpec) -> float:
        """Extra FLOPs fraction ``spec.controller`` adds to the steps it trains (0 without one)."""
        if spec.controller is None:
            return 0.0
        self.check_controller(spec)
        ctrl = build_controller(spec.controller, self.space.domains, spec.seed, initial=spec.mixture.weights,
                                steps=spec.steps)
        start = spec.resume_step if spec.resume_from else 0
        return float(ctrl.overhead(self.signal_costs(spec), start))

    def candidates(self) -> list[tuple[Mixture, Fidelity]] | None:
        """For pool simulators: the only (mixture, fidelity) points that can be queried."""
        return None

    def trust_region(self) -> "TrustRegion | None":
        """Simulators built from logged runs: where their answers are trusted (None = everywhere/unknown)."""
        return None

    @property
    def has_truth(self) -> bool:
        return False

    def extrapolated(self, mixture: Mixture, fidelity: Fidelity) -> bool | None:
        """Simulators: True when :meth:`true_value` of ``mixture`` is scored outside the data's trust
        region (extrapolation), False inside, None when unknown."""
        return None

    def true_value(self, mixture: Mixture, fidelity: Fidelity, objective: Objective) -> float | None:
        """Noiseless objective of ``mixture`` at ``fidelity`` (simulators only)."""
        return None

    def true_values(self, w: np.ndarray, fidelity: Fidelity, objective: Objective) -> np.ndarray | None:
        """Noiseless objective of mixtures ``w (n, K)`` at ``fidelity``: ``(n,)`` (simulators only; the
        vectorised simulators answer in one call, others one :meth:`true_value` per row)."""
        if not self.has_truth:
            return None
        return np.array([self.true_value(Mixture(row, self.space.domains), fidelity, objective)
                         for row in np.atleast_2d(w)], dtype=float)

    def optimum(self, objective: Objective) -> tuple[Mixture, float] | None:
        """Best achievable mixture and value at the target fidelity (simulators only)."""
        return None

    def describe(self) -> dict:
        return {"name": self.name, "metrics": list(self.metrics)}

    def close(self) -> None:
        """Release resources (files, processes)."""
