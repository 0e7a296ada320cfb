"""The Backend seam: something that executes a `RunSpec` and returns a `RunResult`."""

from __future__ import annotations

from abc import ABC, abstractmethod

from bomix.cost import CostModel
from bomix.objective import Objective
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

    @abstractmethod
    def run(self, spec: RunSpec) -> RunResult:
        """Execute ``spec``. Must not raise for a failed training: return status failed/diverged."""

    def cost(self, spec: RunSpec) -> float:
        """Predicted cost of ``spec`` in target-run equivalents (continuations pay extra steps)."""
        start = spec.resume_step if spec.resume_from else 0
        return self.cost_model(spec.scale, spec.steps, start)

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

    def optimum(self, objective: Objective) -> tuple[Mixture, float] | None:
        """Best achievable mixture and value at the target fidelity (simulators only)."""
        return None

    def describe(self) -> dict:
        return {"name": self.name, "metrics": list(self.metrics)}

    def close(self) -> None:
        """Release resources (files, processes)."""
