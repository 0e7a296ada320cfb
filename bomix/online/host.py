"""The online host loop, once: every host (the trainer, the synthetic step simulator) is driven by it.

Per step ``t`` of ``[start, stop)``:

1. ``w = controller.weights(t)`` (already projected onto the space) and ``want = controller.wants(t)``;
2. ``host.step(t, w, want, coefficients)``: the host draws the batch under ``w``, takes the update with
   the loss coefficients ``coefficients(token_counts)`` (``controller.loss_coefficients(t, ...)``, so
   every host trains on the same objective), gathers the signals ``want`` asks for and returns the
   :class:`~bomix.online.base.Signals` of the step (None: the run stopped there, e.g. it diverged);
3. ``controller.observe(t, signals)``;
4. ``host.end_step(t, w)``: evaluation and other bookkeeping after the update (False: the run stopped).

A run without a controller is driven the same way through :class:`Fixed` (weights from a function of the
step, no extra signals, the plain token-mean loss, nothing observed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from bomix.online.base import NOTHING, Signals, Wants
from bomix.online.normalisers import loss_coefficients


class StepHost(Protocol):
    """What a host does for one step of a run (see the module docstring)."""

    def step(self, t: int, w: np.ndarray, want: Wants,
             coefficients: Callable[[np.ndarray], np.ndarray]) -> Signals | None:
        """Train step ``t`` under ``w``; the step's signals (None: the run stopped at ``t``)."""

    def end_step(self, t: int, w: np.ndarray) -> bool:
        """After ``observe``: evaluation, callbacks; False stops the run at ``t``."""


class Driven(Protocol):
    """The part of :class:`bomix.online.Controller` the loop uses (:class:`Fixed` has it too)."""

    def weights(self, step: int) -> np.ndarray: ...

    def wants(self, step: int) -> Wants: ...

    def loss_coefficients(self, step: int, counts: np.ndarray) -> np.ndarray: ...

    def observe(self, step: int, signals: Signals) -> None: ...


class Fixed:
    """A run without a controller: ``weights_at(t)`` in force, no extra signals, the token-mean loss."""

    def __init__(self, weights_at: Callable[[int], np.ndarray]):
        self.weights_at = weights_at

    def weights(self, step: int) -> np.ndarray:
        return self.weights_at(step)

    def wants(self, step: int) -> Wants:
        return NOTHING

    def loss_coefficients(self, step: int, counts: np.ndarray) -> np.ndarray:
        return loss_coefficients(counts, None)

    def observe(self, step: int, signals: Signals) -> None:
        return None


def drive(controller: Driven, host: StepHost, start: int, stop: int) -> int:
    """Run steps ``start .. stop - 1`` of ``host`` under ``controller``.

    Returns:
        ``stop`` when every step ran, else the step at which the host stopped the run.
    """
    for t in range(start, stop):
        w = np.asarray(controller.weights(t), dtype=float)
        want = controller.wants(t)
        signals = host.step(t, w, want, lambda counts, t=t: controller.loss_coefficients(t, counts))
        if signals is None:
            return t
        controller.observe(t, signals)
        if not host.end_step(t, w):
            return t
    return stop
