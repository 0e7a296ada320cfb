"""What a campaign checks before it trusts anything: its config fingerprint on resume, stored specs,
proposed specs and backend results."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Mapping

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.runs import RunResult, RunSpec, validate_run_id

log = logging.getLogger("bomix.campaign")

BUDGET_EPS = 1e-9


def config_hash(config: Mapping) -> str:
    """Stable hash of the parts of a config that define a campaign's results."""
    from bomix.config import normalized

    return hashlib.sha256(json.dumps(normalized(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


class CampaignChecks:
    """The checks of :class:`bomix.campaign.Campaign` (a mixin: it uses the campaign's store, problem and backend)."""

    # ----- set-up ----------------------------------------------------------------------------
    def _check_config(self) -> None:
        h = config_hash(self.config)
        old = self.store.get_meta("config_hash")
        self._config_changed = old is not None and old != h  # a forced resume under another config
        if old is not None and old != h and not self.force:
            from bomix.config import config_diff

            diff = config_diff(self.store.get_meta("config") or {}, self.config)
            raise BomixError(
                f"campaign directory {self.directory} belongs to a different config ({diff or 'see its store'}): "
                "choose another directory (hydra.run.dir=...) or pass force=true to resume it anyway")
        if old is not None:
            spent = self.store.load(self.problem.space.domains)[2]
            if self.budget < spent - BUDGET_EPS:
                raise BomixError(f"budget={self.budget:g} is below the {spent:.4g} target-run equivalents already "
                                 f"spent in {self.directory}: set budget >= {spent:.4g} to resume")
        if old is None or old != h:
            import bomix
            versions = {"bomix": bomix.__version__, "python": platform.python_version()}
            for mod in ("numpy", "scipy", "torch", "botorch", "gpytorch", "pandas"):
                try:
                    versions[mod] = __import__(mod).__version__
                except Exception:  # noqa: BLE001 - optional
                    pass
            self.store.set_meta(
                config=self.config, config_hash=h, domains=list(self.problem.space.domains),
                space=self.problem.space.describe(), objective=self.problem.objective.to_dict(),
                policy=getattr(self.policy, "name", type(self.policy).__name__), backend=self.backend.name,
                seed=self.seed, versions=versions,
                created=self.store.get_meta("created", time.time()))
        self.store.set_meta(budget=self.budget)

    def _check_stored(self, results: list[RunResult], pending: list[RunSpec]) -> None:
        """Validate every spec read from the store like a new one (a store is data from outside).

        The store already checked ids, meta keys and numbers; here: mixture and fidelity against this
        problem, and ``resume_from`` naming an earlier finished ok run of this campaign.
        """
        done = History(self.problem.space, self.problem.objective, [], [], self.budget, 0.0)
        for spec in [r.spec for r in results] + list(pending):
            try:
                checked = self._validate(spec, done, bounds=any(spec is p for p in pending))
            except BomixError as exc:
                raise BomixError(f"store {self.store.path}: run {spec.run_id} cannot be resumed: "
                                 f"{str(exc).splitlines()[0]}") from None
            retry_of = (spec.meta or {}).get("retry_of")
            if retry_of is not None:
                validate_run_id(retry_of, f"store {self.store.path}: run {spec.run_id}'s retry_of")
            if spec.resume_from is not None and checked.resume_step != spec.resume_step:
                raise BomixError(f"store {self.store.path}: run {spec.run_id} says resume_step={spec.resume_step} "
                                 f"but {spec.resume_from} reached {checked.resume_step}: refusing to resume it")
            res = next((r for r in results if r.spec.run_id == spec.run_id), None)
            if res is not None:
                done.results.append(res)
        if getattr(self, "_config_changed", False):
            return  # charges and objectives were those of the other config
        # every run charged what its spec costs (a store edited to charge less would overspend the
        # budget) and every ok run's objective finite (bomix records anything else as failed/diverged)
        self.store.check_charges([r.spec for r in results] + list(pending), self.backend.cost)
        for r in results:
            y = self.problem.objective.on_curve(r.curve) if r.ok else None
            if y is not None and not (len(y) and np.isfinite(y[-1])):
                raise BomixError(f"store {self.store.path}: table curves, run {r.spec.run_id}: the run's status is ok "
                                 f"but its objective {self.problem.objective.name} at its last step is not finite "
                                 "(bomix records that as diverged): restore store.sqlite from a backup")

    def _validate(self, spec: RunSpec, history: History, bounds: bool = True) -> RunSpec:
        """A proposed (or stored) spec checked against the problem: ladder, bounds, continuation.

        ``resume_from`` must name a finished ok run of this campaign with the same mixture and scale
        and fewer steps. ``bounds=False`` skips the weight bounds and pool membership (finished runs of a
        forced resume).
        """
        space = self.problem.space
        mix = space.mixture(spec.mixture.weights)
        space.check_fidelity(spec.fidelity)
        if spec.schedule is not None:
            if not self.backend.supports_schedule:
                raise BomixError(f"backend {self.backend.name} cannot run mixture schedules: choose another policy or backend")
            for m in spec.schedule.mixtures:
                sm = space.mixture(m.weights)
                if bounds:
                    space.check_mixture(sm, spec.fidelity)
        elif bounds:
            space.check_mixture(mix, spec.fidelity)
            self.problem.proposals.check(mix, spec.fidelity)  # a pool answers only its logged points
        if spec.controller is not None:
            self.backend.check_controller(spec)
            ref = spec.controller.reference or {}
            if ref.get("source") == "model" and ref.get("run_id") is not None:
                validate_run_id(ref["run_id"], "controller.reference.run_id")
                if ref["run_id"] not in {r.spec.run_id for r in history.ok}:
                    raise BomixError(f"controller.reference.run_id={ref['run_id']} is not a finished ok run "
                                     "of this campaign")
        if spec.resume_from is not None:
            if not self.backend.supports_continuation:
                raise BomixError(f"backend {self.backend.name} cannot continue runs (resume_from)")
            validate_run_id(spec.resume_from, "resume_from")
            prev = {r.spec.run_id: r.spec for r in history.ok}.get(spec.resume_from)
            if (prev is None or prev.scale != spec.scale or prev.steps >= spec.steps
                    or not np.allclose(prev.mixture.weights, mix.weights, rtol=0, atol=1e-12)):
                raise BomixError(f"resume_from={spec.resume_from} is not a finished shorter run of the same "
                                 "mixture and scale")
            if (prev.controller is None) != (spec.controller is None) or (
                    spec.controller is not None and prev.controller.to_dict() != spec.controller.to_dict()):
                raise BomixError(f"resume_from={spec.resume_from}: a continuation must carry the same controller")
            spec, mix = spec.with_(resume_step=prev.steps), prev.mixture
        return spec.with_(mixture=mix)

    def _checked(self, res: RunResult, history: History) -> RunResult | None:
        """The one check every backend result passes before it is recorded.

        A result for no pending run is dropped (None). Status must be known; an ``ok`` result needs a
        curve whose final objective is finite (else ``diverged``, reason recorded); a non-finite or
        negative cost is replaced by the cost the run was charged.
        """
        spec = next((s for s in history.pending if s.run_id == getattr(getattr(res, "spec", None), "run_id", None)),
                    None)
        if spec is None or not isinstance(res, RunResult):
            log.error("dropping a result for no pending run: %r", getattr(res, "spec", res))
            return None
        if res.spec is not spec:
            res.spec = spec  # record what was asked, whatever spec object the backend echoed
        cost = res.cost
        if not isinstance(cost, (int, float)) or not np.isfinite(cost) or cost < 0:
            res.cost = float(self.backend.cost(spec))
        if res.status == "ok":
            y = self.problem.objective.on_curve(res.curve)
            if len(y) == 0:
                res.status, res.error = "failed", "backend returned status ok with an empty curve"
            elif not np.isfinite(y[-1]):
                res.status = "diverged"
                res.error = f"non-finite objective {float(y[-1])} at step {int(res.curve.steps[-1])}"
        return res
