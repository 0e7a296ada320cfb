"""The excess-loss family (Sheared-LLaMA dynamic batch loading, Velocitune): every ``every`` steps

    V_i = max(L_i(t) - L_i^ref, 0)                          (form = clipped: Sheared-LLaMA)
    V_i = (L_i(t) - L_i^ref) / (L_i(0) - L_i^ref)           (form = relative: Velocitune)
    w  <- w * exp(zeta V);  w <- w / sum(w)

``L_i(t)`` are validation losses (``signal = val``, the host evaluates every domain at each update)
or the mean train losses since the last update (``signal = train``, free). ``L^ref`` comes from the
controller's reference: a stored curve (a reference run, or a per-domain law fitted on the history
and written as a curve by the policy) or a frozen model (``ref_losses`` on the batches).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import NOTHING, Controller, Signals, Wants, renormalise
from bomix.online.reference import CurveReference


class ExcessController(Controller):
    """Multiplicative weights on the excess of the current loss over a reference loss."""

    kind = "excess"

    @dataclass(frozen=True)
    class Params:
        """Defaults: Sheared-LLaMA's rule (zeta 1, clipped excess of validation losses)."""

        zeta: float = 1.0
        form: str = "clipped"
        signal: str = "val"
        reference_at: str = "final"
        floor: float = 0.0

    def check_params(self, p) -> None:
        if p.zeta <= 0 or p.form not in ("clipped", "relative") or p.signal not in ("val", "train"):
            raise BomixError("excess: zeta > 0, form clipped|relative, signal val|train")
        if p.reference_at not in ("final", "step") or not 0 <= p.floor < 1.0 / self.k:
            raise BomixError("excess: reference_at final|step and 0 <= floor < 1/K")
        if self.config.reference is None:
            raise BomixError("excess needs a reference: controller.reference = {source: curve|model, ...}")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        ref = self.config.reference
        self.curve = CurveReference(ref, self.k) if ref["source"] == "curve" else None
        self.L0: np.ndarray | None = None
        self._acc, self._cnt = np.zeros(self.k), np.zeros(self.k)
        self._racc, self._rcnt = np.zeros(self.k), np.zeros(self.k)
        self.last_v = np.zeros(self.k)

    def wants(self, step: int) -> Wants:
        val = self.p.signal == "val" and self.is_update(step)
        ref = self.curve is None
        return Wants(val=val, reference=ref) if (val or ref) else NOTHING

    def update(self, step: int, s: Signals) -> None:
        tl = np.asarray(s.train_losses, dtype=float)
        seen = np.isfinite(tl)
        self._acc[seen] += tl[seen]
        self._cnt[seen] += 1
        if self.curve is None:
            if s.ref_losses is None:
                raise BomixError("excess: the host gave no reference losses for a model reference")
            rl = np.asarray(s.ref_losses, dtype=float)
            ok = np.isfinite(rl)
            self._racc[ok] += rl[ok]
            self._rcnt[ok] += 1
        if not self.is_update(step):
            return
        if self.p.signal == "val":
            if s.val_losses is None:
                raise BomixError("excess: signal=val but the host gave no validation losses")
            L = np.asarray(s.val_losses, dtype=float)
        else:
            L = np.where(self._cnt > 0, self._acc / np.maximum(self._cnt, 1), np.nan)
        if self.curve is not None:
            ref = self.curve.at(step + 1, self.p.reference_at == "final")
        else:
            ref = np.where(self._rcnt > 0, self._racc / np.maximum(self._rcnt, 1), np.nan)
        self._acc[:], self._cnt[:], self._racc[:], self._rcnt[:] = 0, 0, 0, 0
        if self.L0 is None:
            self.L0 = L.copy()
        if self.p.form == "clipped":
            v = np.maximum(L - ref, 0.0)
        else:
            gap = self.L0 - ref
            v = np.where(np.abs(gap) > 1e-12, (L - ref) / np.where(np.abs(gap) > 1e-12, gap, 1.0), 0.0)
        v = np.where(np.isfinite(v), v, 0.0)  # a domain without a measurement keeps its weight
        self.last_v = v
        self.w = renormalise(self.w * np.exp(self.p.zeta * v), self.p.floor)
        self.n_updates += 1

    def _state(self) -> dict:
        return {"L0": None if self.L0 is None else self.L0.tolist(), "acc": self._acc.tolist(),
                "cnt": self._cnt.tolist(), "racc": self._racc.tolist(), "rcnt": self._rcnt.tolist(),
                "last_v": self.last_v.tolist()}

    def _load_state(self, st: Mapping[str, Any]) -> None:
        self.L0 = None if st["L0"] is None else np.asarray(st["L0"], dtype=float)
        self._acc, self._cnt = np.asarray(st["acc"], dtype=float), np.asarray(st["cnt"], dtype=float)
        self._racc, self._rcnt = np.asarray(st["racc"], dtype=float), np.asarray(st["rcnt"], dtype=float)
        self.last_v = np.asarray(st["last_v"], dtype=float)
