"""The allowlist of controllers: ``kind`` -> class. Nothing is imported from a name read from a spec."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from bomix.errors import BomixError
from bomix.online.base import Controller
from bomix.controller_config import ControllerConfig
from bomix.online.ado import ADOController
from bomix.online.aioli import AioliController
from bomix.online.doge import DoGEController
from bomix.online.doremi import DoReMiController
from bomix.online.excess import ExcessController
from bomix.online.odm import ODMController
from bomix.online.skillit import SkillItController

CONTROLLERS: dict[str, type[Controller]] = {
    c.kind: c for c in (ODMController, DoReMiController, ExcessController, AioliController, ADOController,
                        DoGEController, SkillItController)
}


def build_controller(config: ControllerConfig | Mapping, domains: Sequence[str], seed: int | None, *,
                     initial: np.ndarray | Sequence[float], steps: int, trace_every: int = 1,
                     project: Callable[[np.ndarray], np.ndarray] | None = None) -> Controller:
    """The controller a run's ``spec.controller`` names (see :class:`bomix.online.base.Controller`).

    Args:
        config: a :class:`ControllerConfig` or its dict.
        domains: the ``K`` domain names.
        seed: the run seed (``spec.seed``).
        initial: ``(K,)`` the spec's (initial or base) mixture.
        steps: the run's last step (``spec.steps``).
        trace_every: trace granularity (the host's eval interval).
        project: ``(K,) -> (K,)`` projection onto the space (bounds, repetition cap).

    Raises:
        BomixError: unknown kind or bad params.
    """
    cfg = ControllerConfig.from_dict(config)
    cls = CONTROLLERS.get(cfg.kind)
    if cls is None:
        raise BomixError(f"unknown controller kind {cfg.kind!r}: choose one of {sorted(CONTROLLERS)}")
    return cls(cfg, domains, int(seed or 0), initial=initial, steps=steps, trace_every=trace_every,
               project=project)
