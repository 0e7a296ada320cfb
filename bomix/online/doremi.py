"""DoReMi (Xie et al. 2023): group-DRO domain weights from the excess loss over a reference model.

Per update (every step by default)::

    lambda_i = mean over domain-i tokens of max(l_theta - l_ref, 0)   (previous value if absent)
    alpha    = (1 - c) softmax(log alpha + eta lambda) + c / K

``apply=reweight`` (the paper's proxy run): batches from the base mixture, loss weighted by
``alpha`` with the paper's normaliser (``domain``) or the code's (``token``), both defined in
:mod:`bomix.online.normalisers`. ``apply=resample``
is online DoReMi: the model itself trains on ``alpha``. The recommendation is the average alpha.

Reference: a frozen model (``reference.source = model``: the host gives ``ref_losses`` /
``excess`` on the same batch) or a stored curve (``source = curve``: the reference run's
per-domain validation losses, at its final step or interpolated at the current step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import NOTHING, Controller, Signals, Wants, softmax
from bomix.online.normalisers import NORMALISERS
from bomix.online.reference import CurveReference


class DoReMiController(Controller):
    """Group-DRO excess-loss weights (see module docstring)."""

    kind = "doremi"

    @dataclass(frozen=True)
    class Params:
        """Published defaults: eta 1, smoothing c 1e-3 (the code uses 1e-4), the paper's normaliser."""

        eta: float = 1.0
        smoothing: float = 1e-3
        normaliser: str = "domain"
        reference_at: str = "final"   # curve references: "final" value or the value at the same "step"

    def check_params(self, p) -> None:
        if p.eta <= 0 or not 0 <= p.smoothing < 1:
            raise BomixError("doremi: eta must be > 0 and smoothing in [0, 1)")
        if p.normaliser not in NORMALISERS:
            raise BomixError(f"doremi: normaliser must be one of {NORMALISERS}, got {p.normaliser!r}")
        if p.reference_at not in ("final", "step"):
            raise BomixError("doremi: reference_at must be 'final' or 'step'")
        if self.config.reference is None:
            raise BomixError("doremi needs a reference: controller.reference = {source: model|curve, ...}")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        ref = self.config.reference
        self.curve = CurveReference(ref, self.k) if ref["source"] == "curve" else None
        self._want = NOTHING if self.curve is not None else Wants(reference=True)
        self.lam = np.zeros(self.k)
        self._acc = np.zeros(self.k)
        self._cnt = np.zeros(self.k)

    def wants(self, step: int) -> Wants:
        return self._want

    def excess(self, step: int, s: Signals) -> np.ndarray:
        """``(K,)`` clipped excess loss of this batch (NaN where a domain is absent)."""
        absent = ~(np.asarray(s.token_counts) > 0)
        if self.curve is not None:
            ref = self.curve.at(step + 1, self.p.reference_at == "final")
            ex = np.maximum(np.asarray(s.train_losses, dtype=float) - ref, 0.0)
        elif s.excess is not None:
            ex = np.asarray(s.excess, dtype=float).copy()
        elif s.ref_losses is not None:
            ex = np.maximum(np.asarray(s.train_losses, dtype=float) - np.asarray(s.ref_losses, dtype=float), 0.0)
        else:
            raise BomixError("doremi: the host gave no reference losses for a model reference")
        ex[absent] = np.nan
        return ex

    def update(self, step: int, signals: Signals) -> None:
        ex = self.excess(step, signals)
        seen = np.isfinite(ex)
        self._acc[seen] += ex[seen]
        self._cnt[seen] += 1
        if not self.is_update(step):
            return
        got = self._cnt > 0
        self.lam[got] = self._acc[got] / self._cnt[got]  # keep the previous value when absent
        self._acc[:], self._cnt[:] = 0.0, 0.0
        self.w = self.step_weights(self.w, self.lam)
        self.n_updates += 1

    def step_weights(self, alpha: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """One DoReMi update of ``alpha (K,)`` with excess ``lam (K,)``."""
        a = softmax(np.log(np.maximum(alpha, 1e-300)) + self.p.eta * lam)
        return (1 - self.p.smoothing) * a + self.p.smoothing / self.k

    def _state(self) -> dict:
        return {"lam": self.lam.tolist(), "acc": self._acc.tolist(), "cnt": self._cnt.tolist()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.lam = np.asarray(state["lam"], dtype=float)
        self._acc = np.asarray(state["acc"], dtype=float)
        self._cnt = np.asarray(state["cnt"], dtype=float)
