"""`OnlinePolicy`: an online data-mixing method (a controller run inside proxy runs) as a policy.

The policy proposes ``runs`` proxy runs at one fidelity (default: the smallest scale at the target
steps), each carrying the method's controller (``RunSpec.controller``); it reads everything from the
history, so a resumed campaign rebuilds it. Recommendation modes:

- ``proxy`` (default): a static mixture, the mean over finished online runs of the controller's
  average weights (``info["controller"]["average"]``), judged like every other policy;
- ``target``: the recipe itself (initial mixture + controller) at the target fidelity. The campaign
  evaluates it with ``backend.true_value_recipe`` (synthetic only) and reports its regret against
  the best *static* mixture unclipped (negative = the recipe beats every static mixture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.online import ControllerConfig
from bomix.policies.base import Policy
from bomix.runs import RunResult, RunSpec
from bomix.space import Fidelity, Mixture

MODES = ("proxy", "target")


class OnlinePolicy(Policy):
    """One-stage online methods (odm, aioli, ado, doge): run the controller, recommend its average.

    Args:
        controller: the controller config (``kind``, ``every``, ``apply``, ``params``).
        scale / steps: the proxy fidelity (default: smallest scale, target steps).
        runs: online proxy runs (different seeds; the recommendation averages them).
        init: initial mixture: ``auto`` (proportional to token counts where the problem has them,
            else uniform), ``uniform``, ``proportional``, or a mapping / list of weights.
        mode: ``proxy`` or ``target`` (see module docstring).
    """

    name = "online"
    tag = "online"

    def __init__(self, controller: Mapping[str, Any], scale: str | None = None, steps: int | None = None,
                 runs: int = 1, init: str | Mapping | Sequence = "auto", mode: str = "proxy"):
        self.controller = ControllerConfig.from_dict(controller)
        if mode not in MODES:
            raise BomixError(f"policy.mode must be one of {MODES}, got {mode!r}")
        if int(runs) < 1:
            raise BomixError(f"policy.runs must be >= 1, got {runs}")
        self.scale_name, self.steps_cfg, self.n_runs = scale, steps, int(runs)
        self.init_cfg, self.mode = init, mode
        self.init_used = None

    # ----- set-up ----------------------------------------------------------------------------
    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        if not problem.supports_controller:
            raise BomixError(f"policy {self.name} runs an online controller, which this backend cannot host: "
                             "use backend=synthetic or backend=trainer")
        sp = problem.space
        self.fid = sp.check_fidelity(Fidelity(self.scale_name or sp.scales[0].name,
                                              int(self.steps_cfg or sp.target.steps)))
        self.initial = self._initial()

    def _initial(self) -> Mixture:
        sp, init = self.space, self.init_cfg
        if isinstance(init, str):
            if init == "auto":
                init = "proportional" if sp.tokens is not None else "uniform"
            self.init_used = init
            if init == "uniform":
                return sp.center(self.fid)
            if init == "proportional":
                if sp.tokens is None:
                    raise BomixError(f"policy {self.name}: init=proportional needs token counts (problem.tokens)")
                return Mixture(sp.project(sp.tokens / sp.tokens.sum(), self.fid)[0], sp.domains)
            raise BomixError(f"policy.init must be auto, uniform, proportional or weights, got {init!r}")
        self.init_used = "given"
        m = sp.mixture(init)
        sp.check_mixture(m, self.fid)
        return m

    # ----- history ---------------------------------------------------------------------------
    def finished(self, history: History, tag: str | None = None) -> list[RunResult]:
        """Ok runs with a controller output, optionally of one tag, in finishing order."""
        return [r for r in history.ok if r.spec.controller is not None and "controller" in r.info
                and (tag is None or r.spec.tag == tag)]

    def _tags(self, history: History) -> list[str]:
        return [s.tag for s in history.all_specs()]

    # ----- ask / recommend -------------------------------------------------------------------
    def online_spec(self, initial: Mixture, controller: ControllerConfig, tag: str) -> RunSpec:
        return RunSpec(initial, self.fid.scale, self.fid.steps, tag=tag, controller=controller)

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        done = self._tags(history).count(self.tag)
        specs = [self.online_spec(self.initial, self.controller, self.tag)
                 for _ in range(min(n, self.n_runs - done))]
        return [s for s in specs if self.fits(s, budget_left)]

    def outputs(self, history: History) -> list[dict]:
        """The controller outputs the recommendation uses (override for multi-stage methods)."""
        return [r.info["controller"] for r in self.finished(history, self.tag)]

    def recommend(self, history: History) -> Mixture:
        outs = self.outputs(history)
        if not outs:
            return self.initial
        w = np.mean([o["average"] for o in outs], axis=0)
        return Mixture(self.space.project(w / w.sum())[0], self.space.domains)

    def recipe(self, history: History) -> RunSpec | None:
        """Target mode: the recipe (initial mixture + controller) at the target fidelity, once an
        online run has finished (None in proxy mode)."""
        if self.mode != "target":
            return None
        runs = [r for r in self.finished(history) if r.spec.tag == self.tag]
        if not runs:
            return None
        last = runs[-1].spec
        t = self.space.target
        return RunSpec(last.mixture, t.scale, t.steps, seed=int(self.seed), tag="recipe", controller=last.controller)

    def diagnostics(self) -> dict:
        return {"controller": self.controller.kind, "mode": self.mode, "init": self.init_used}
