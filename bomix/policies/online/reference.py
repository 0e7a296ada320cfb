"""Methods that need a reference run first: DoReMi (``doremi``, ``doremi_online``) and the
excess-loss family (``sheared``).

Each round ``r`` has two stages, known from which tagged runs have finished in the history:
a static reference run (tag ``ref:r``; round 0 on the initial mixture, later rounds on the previous
round's average weights: DoReMi's iterated rounds), then the online run (tag ``online:r``) whose
controller compares its losses with that reference. The reference reaches the controller as

- ``model``: the frozen reference model (the host forwards it on the same batches; the synthetic
  backend computes it in closed form from the reference run's spec);
- ``curve``: the reference run's stored per-domain validation curve;
- ``law``: a per-domain power law in steps ``L_i(t) = e^E + e^A t^-alpha`` fitted on that curve and
  extrapolated to ``law_steps`` (default the target steps): a reference from a law fitted on the
  history, as Sheared-LLaMA takes its reference from a fitted scaling law.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.online import ControllerConfig
from bomix.online.ado import fit_power_law
from bomix.policies.online.base import OnlinePolicy
from bomix.runs import RunResult, RunSpec
from bomix.space import Fidelity, Mixture

REFERENCES = ("model", "curve", "law")


class ReferencePolicy(OnlinePolicy):
    """Reference run, then an online run against it; ``rounds`` times (see module docstring).

    Args:
        controller: the online controller (its ``reference`` is filled in by the policy).
        reference: ``model`` | ``curve`` | ``law``.
        rounds: reference + online rounds (DoReMi's iterated rounds; each reference trains on the
            previous round's average weights).
        reference_scale / reference_steps: the reference run's fidelity (default the proxy's).
        law_steps: the step the ``law`` reference is extrapolated to (default the target steps).
        kwargs: see :class:`OnlinePolicy` (``runs`` is ignored: one online run per round).
    """

    name = "reference"

    def __init__(self, controller: Mapping[str, Any], reference: str = "model", rounds: int = 1,
                 reference_scale: str | None = None, reference_steps: int | None = None,
                 law_steps: int | None = None, **kw):
        super().__init__(controller, **kw)
        if reference not in REFERENCES:
            raise BomixError(f"policy.reference must be one of {REFERENCES}, got {reference!r}")
        if int(rounds) < 1:
            raise BomixError(f"policy.rounds must be >= 1, got {rounds}")
        self.reference, self.rounds = reference, int(rounds)
        self.ref_scale, self.ref_steps, self.law_steps = reference_scale, reference_steps, law_steps

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        self.ref_fid = problem.space.check_fidelity(Fidelity(self.ref_scale or self.fid.scale,
                                                             int(self.ref_steps or self.fid.steps)))

    # ----- stages ----------------------------------------------------------------------------
    def _by_tag(self, history: History) -> tuple[dict[str, RunSpec], dict[str, RunResult]]:
        specs = {s.tag: s for s in history.all_specs()}
        done = {r.spec.tag: r for r in history.results}
        return specs, done

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        specs, done = self._by_tag(history)
        for r in range(self.rounds):
            ref_tag, on_tag = f"ref:{r}", f"online:{r}"
            if ref_tag not in specs:
                w = self.initial if r == 0 else self._average(done[f"online:{r - 1}"])
                spec = RunSpec(w, self.ref_fid.scale, self.ref_fid.steps, tag=ref_tag)
                return [spec] if self.fits(spec, budget_left) else []
            if ref_tag not in done:
                return []  # wait for the reference
            ref = done[ref_tag]
            if not ref.ok:
                return []  # no reference, no online run: the recommendation stays where it is
            if on_tag not in specs:
                ctrl = ControllerConfig.from_dict({**self.controller.to_dict(), "reference": self.reference_of(ref)})
                spec = self.online_spec(self.initial, ctrl, on_tag)
                return [spec] if self.fits(spec, budget_left) else []
            if on_tag not in done:
                return []
            if not done[on_tag].ok:
                return []
        return []

    def _average(self, res: RunResult) -> Mixture:
        if not res.ok or "controller" not in res.info:
            raise BomixError(f"online run {res.spec.run_id} has no controller output: cannot start the next round")
        w = np.asarray(res.info["controller"]["average"], dtype=float)
        return Mixture(self.space.project(w / w.sum(), self.ref_fid)[0], self.space.domains)

    def reference_of(self, ref: RunResult) -> dict:
        """The controller's ``reference`` config built from the finished reference run."""
        if self.reference == "model":
            return {"source": "model", "run_id": ref.spec.run_id, "mixture": ref.spec.mixture.to_list(),
                    "scale": ref.spec.scale, "steps": int(ref.spec.steps)}
        names = [f"loss:{d}" for d in self.space.domains]
        missing = [m for m in names if m not in ref.curve.metrics]
        if missing:
            raise BomixError(f"reference run {ref.spec.run_id} has no per-domain losses {missing}")
        L = np.column_stack([ref.curve.metrics[m] for m in names])
        keep = np.all(np.isfinite(L), axis=1)
        steps, L = ref.curve.steps[keep], L[keep]
        if steps.size == 0:
            raise BomixError(f"reference run {ref.spec.run_id} has no finite per-domain losses")
        if self.reference == "curve":
            return {"source": "curve", "steps": steps.tolist(), "losses": L.tolist()}
        at = float(self.law_steps or self.space.target.steps)
        if steps.size < 4:
            raise BomixError(f"reference=law needs >= 4 evaluated steps in the reference run, got {steps.size}: "
                             "lower the backend's eval_every or use reference=curve")
        pred = [float(np.exp(E) + np.exp(A) * at ** (-a))
                for E, A, a in (fit_power_law(steps, L[:, i]) for i in range(L.shape[1]))]
        return {"source": "curve", "steps": [int(at)], "losses": [pred]}

    def outputs(self, history: History) -> list[dict]:
        _, done = self._by_tag(history)
        for r in reversed(range(self.rounds)):
            res = done.get(f"online:{r}")
            if res is not None and res.ok and "controller" in res.info:
                return [res.info["controller"]]
        return []

    def recipe(self, history: History) -> RunSpec | None:
        if self.mode != "target":
            return None
        _, done = self._by_tag(history)
        for r in reversed(range(self.rounds)):
            res = done.get(f"online:{r}")
            if res is not None and res.ok:
                t = self.space.target
                return RunSpec(res.spec.mixture, t.scale, t.steps, seed=int(self.seed), tag="recipe",
                               controller=res.spec.controller)
        return None
