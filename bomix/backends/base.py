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
    ``cost_model`` and ``default_objective``. Simulators derive from :class:`SimulatorBackend` (they
    declare ``has_truth`` and answer :meth:`true_value`, :meth:`true_values` and :meth:`optimum`; only the
    campaign's evaluator calls those, never a policy); ``supports_recipe`` declares
    :meth:`true_value_recipe` (an online recipe's value at the target).
    """

    name: str = "backend"
    space: Space
    metrics: tuple[str, ...]
    cost_model: CostModel
    default_objective: Objective
    supports_schedule: bool = False
    supports_continuation: bool = False
    #: continues a phased run from a parent's state at a phase boundary (:mod:`bomix.campaign.branches`)
    supports_branch: bool = False
    #: hosts an online controller (``RunSpec.controller``, see :mod:`bomix.online.base`)
    supports_controller: bool = False
    #: answers :meth:`true_value_recipe` (online methods in target mode)
    supports_recipe: bool = False

    @abstractmethod
    def run(self, spec: RunSpec) -> RunResult:
        """Execute ``spec``. Must not raise for a failed training: return status failed/diverged."""

    def cost(self, spec: RunSpec) -> float:
        """Predicted cost of ``spec`` in target-run equivalents (continuations pay extra steps)."""
        base = self.cost_model(spec.scale, spec.steps, spec.start_step)
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
        return float(ctrl.overhead(self.signal_costs(spec), spec.start_step))

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

    def optimum(self, objective: Objective, fidelity: Fidelity | None = None) -> tuple[Mixture, float] | None:
        """Best achievable mixture and value at ``fidelity`` (default the target; simulators only)."""
        return None

    def true_value_recipe(self, spec: RunSpec, objective: Objective) -> float | None:
        """Noiseless objective at the end of ``spec`` run with its controller (``supports_recipe`` only)."""
        return None

    def describe(self) -> dict:
        return {"name": self.name, "metrics": list(self.metrics)}

    def close(self) -> None:
        """Release resources (files, processes)."""


class SimulatorBackend(Backend):
    """A backend that knows the truth: what the campaign's evaluator may ask a simulator.

    Declares ``has_truth``; subclasses answer :meth:`true_value` (one mixture at a fidelity), may
    vectorise :meth:`true_values` (``(n, K) -> (n,)``; default one :meth:`true_value` per row) and answer
    :meth:`optimum` (best mixture and value at a fidelity, default the target). Simulators built from logged
    runs also answer :meth:`trust_region` and :meth:`extrapolated`; ``supports_recipe`` ones
    :meth:`true_value_recipe`.
    """

    @property
    def has_truth(self) -> bool:
        return True

    @abstractmethod
    def true_value(self, mixture: Mixture, fidelity: Fidelity, objective: Objective) -> float:
        """Noiseless objective of ``mixture`` at ``fidelity``."""

    @abstractmethod
    def optimum(self, objective: Objective, fidelity: Fidelity | None = None) -> tuple[Mixture, float] | None:
        """Best mixture and its value at ``fidelity`` (default the target)."""


class MetricSimulator(SimulatorBackend):
    """A simulator whose truth is a vectorised noiseless :meth:`metrics_at`: ``true_value(s)`` read it and
    :meth:`optimum` is :func:`bomix.backends.truth.dense_optimum` over it, cached per objective and fidelity."""

    _optima: dict[str, tuple[Mixture, float]]

    @abstractmethod
    def metrics_at(self, w: np.ndarray, scale: str, steps) -> dict[str, np.ndarray]:
        """Metric name -> ``(n,)`` noiseless values for mixtures ``w (n, K)`` at one scale."""

    def true_value(self, mixture: Mixture, fidelity: Fidelity, objective: Objective) -> float:
        return float(self.true_values(mixture.weights[None], fidelity, objective)[0])

    def true_values(self, w: np.ndarray, fidelity: Fidelity, objective: Objective) -> np.ndarray:
        return objective.values(self.metrics_at(np.atleast_2d(w), fidelity.scale, fidelity.steps))

    def optimum(self, objective: Objective, fidelity: Fidelity | None = None) -> tuple[Mixture, float]:
        """Best mixture at ``fidelity`` (default the target): dense search, then local refinement
        (:func:`bomix.backends.truth.dense_optimum`; reaches exact zeros on the boundary)."""
        from bomix.backends.truth import dense_optimum

        fid = fidelity or self.space.target
        cache = self.__dict__.setdefault("_optima", {})
        key = f"{objective.name}|{objective.key}|{fid}"
        if key not in cache:
            w, v = dense_optimum(lambda W: self.true_values(W, fid, objective), self.space.k)
            cache[key] = (Mixture(w, self.space.domains), v)
        return cache[key]
