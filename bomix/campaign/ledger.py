"""The ledger: the one way a run enters the books (validated, priced, stored pending, charged) and
leaves them (checked, stored, retried). It alone changes a :class:`bomix.history.History`; the
campaign loop and the ask/tell :class:`bomix.study.Study` are both loops over it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.executors.base import is_infra_failure
from bomix.history import History
from bomix.policies.base import Problem
from bomix.runs import RunResult, RunSpec, validate_run_id
from bomix.campaign.branches import branch_for
from bomix.campaign.checks import Host, checked_result, validate_spec

log = logging.getLogger("bomix.campaign")

#: the seed rule: a run without its own seed gets ``seed * SEED_STRIDE + its index``
SEED_STRIDE = 1_000_003


class Ledger:
    """Admits proposals and records results of one campaign or study store.

    Args:
        store: the writing :class:`bomix.store.Store`.
        problem: the policy-facing problem (space, objective, proposals).
        host: what runs the specs (:class:`bomix.campaign.checks.Host`).
        seed: the campaign's seed (run seeds follow :data:`SEED_STRIDE`).
        max_retries: infrastructure failures of one run retried, each a new charged run.
    """

    def __init__(self, store, problem: Problem, host: Host, seed: int, max_retries: int = 0):
        self.store, self.problem, self.host = store, problem, host
        self.seed_base = int(seed) * SEED_STRIDE
        self.max_retries = int(max_retries)
        self.n_retries = 0

    def price(self, spec: RunSpec) -> float:
        """What ``spec`` is charged, in target-run equivalents."""
        return float(self.host.cost(spec))

    def validate(self, spec: RunSpec, history: History, bounds: bool = True) -> RunSpec:
        return validate_spec(self.problem, self.host, spec, history, bounds)

    # ----- admitting -------------------------------------------------------------------------
    def admit(self, history: History, specs: Sequence[RunSpec], left: float) -> list[tuple[RunSpec, float]]:
        """The proposals that pass every check and fit ``left`` (in order, each charged against the
        rest): ``[(spec, cost)]``, not stored yet. A continuation without a seed takes its parent's. On a
        phased space a point that shares a schedule prefix with a finished run becomes its branch
        (:meth:`branch`)."""
        accepted: list[tuple[RunSpec, float]] = []
        for spec in specs:
            spec = self.validate(self.branch(spec, history), history)
            cost = self.price(spec)
            if cost > left + BUDGET_EPS:
                log.info("not starting %s at %s: cost %.4g exceeds the budget left %.4g",
                         spec.mixture, spec.fidelity, cost, left)
                continue
            if spec.seed is None and spec.resume_from:
                prev = {s.run_id: s for s in history.all_specs()}[spec.resume_from]
                spec = spec.with_(seed=int(prev.seed))
            accepted.append((spec, cost))
            left -= cost
        return accepted

    def add_pending(self, history: History, accepted: Sequence[tuple[RunSpec, float]],
                    shared: bool = False) -> list[RunSpec] | None:
        """Store ``accepted`` as pending (one transaction; ids and default seeds allocated inside it) and
        charge them to ``history``; returns the stored specs.

        ``shared``: the store has other writers (a study): store one spec only if the store still holds
        ``history``'s runs and the budget has room, else store nothing and return None.
        """
        if shared:
            (spec, cost), = accepted
            stored = self.store.add_pending_checked(spec, cost, expect_runs=history.n_dispatched,
                                                    budget=history.budget, seed_base=self.seed_base)
            specs = None if stored is None else [stored]
        else:
            specs = self.store.add_pending(accepted, seed_for=lambda idx: self.seed_base + idx)
        for spec, (_, cost) in zip(specs or [], accepted):
            history.add_pending(spec, cost)
        return specs

    def branch(self, spec: RunSpec, history: History) -> RunSpec:
        """``spec`` rewritten as a branch of an earlier run (:func:`bomix.campaign.branches.branch_for`) when the
        host can branch and the space is phased; else ``spec`` itself."""
        space = self.problem.space
        if not self.host.supports_branch or getattr(space, "phases", None) is None:
            return spec
        out = branch_for(space, spec, history)
        if out is not spec:
            log.info("branching from %s at step %d (shared schedule prefix): only the remaining %d steps cost",
                     out.resume_from, out.resume_step, out.steps - out.resume_step)
        return out

    # ----- recording -------------------------------------------------------------------------
    def record(self, history: History, res: RunResult, *, spec: RunSpec | None = None,
               retry: bool = False) -> tuple[RunResult | None, RunSpec | None]:
        """Check and store one result; returns ``(result, retry_spec)``.

        ``spec``: the pending run it answers (default: found in ``history.pending`` by run id; a result
        for none is dropped, ``(None, None)``). ``retry``: the caller allows a retry now; an
        infrastructure failure is then retried (a new pending run stored in the same transaction),
        up to ``max_retries`` and within the budget.
        """
        if spec is None:
            rid = getattr(getattr(res, "spec", None), "run_id", None)
            spec = next((s for s in history.pending if s.run_id == rid), None)
        res = checked_result(res, spec, self.problem.objective, self.price)
        if res is None:
            return None, None
        again = self._retry_of(res, history) if retry else None
        new = self.store.finish(res, retry=again)
        history.finish(res)
        if not res.ok:
            log.warning("run %s %s: %s", res.spec.run_id, res.status, (res.error or "").splitlines()[:1])
        if new is not None:
            self.n_retries += 1
            history.add_pending(new, again[1])
            log.info("retrying %s as %s (attempt %d of %d), charged %.4g", res.spec.run_id, new.run_id,
                     new.meta["attempt"], self.max_retries, again[1])
        return res, new

    def _retry_of(self, res: RunResult, history: History) -> tuple[RunSpec, float] | None:
        """(spec, charge) of a retry of ``res`` if it is an infrastructure failure with retries and budget left."""
        if not is_infra_failure(res):
            return None
        meta = dict(res.spec.meta or {})
        attempt = int(meta.get("attempt", 0)) + 1
        if attempt > self.max_retries:
            return None
        cost = self.price(res.spec)
        if cost > history.budget - history.spent + BUDGET_EPS:
            log.warning("not retrying %s: its cost %.4g exceeds the budget left", res.spec.run_id, cost)
            return None
        meta.update(retry_of=meta.get("retry_of", res.spec.run_id), attempt=attempt)
        return res.spec.with_(run_id=None, meta=meta), cost

    # ----- resuming --------------------------------------------------------------------------
    def check_stored(self, results: list[RunResult], pending: list[RunSpec], charges: bool = True) -> None:
        """Validate every spec read from the store like a new one (a store is data from outside).

        The store already checked ids, meta keys and numbers; here: mixture and fidelity against this
        problem, ``resume_from`` naming an earlier finished ok run, and (``charges``) every run charged
        what its spec costs and every ok run's objective finite. Also counts the stored retries.
        """
        path = self.store.path
        done = History(self.problem.space, self.problem.objective, [], [], float("inf"), 0.0)
        for spec in [r.spec for r in results] + list(pending):
            try:
                checked = self.validate(spec, done, bounds=any(spec is p for p in pending))
            except BomixError as exc:
                raise BomixError(f"store {path}: run {spec.run_id} cannot be resumed: "
                                 f"{str(exc).splitlines()[0]}") from None
            retry_of = (spec.meta or {}).get("retry_of")
            if retry_of is not None:
                validate_run_id(retry_of, f"store {path}: run {spec.run_id}'s retry_of")
            if spec.resume_from is not None and checked.resume_step != spec.resume_step:
                raise BomixError(f"store {path}: run {spec.run_id} says resume_step={spec.resume_step} "
                                 f"but {spec.resume_from} reached {checked.resume_step}: refusing to resume it")
            res = next((r for r in results if r.spec.run_id == spec.run_id), None)
            if res is not None:
                done.finish(res)
        self.n_retries = sum(1 for s in [r.spec for r in results] + pending if (s.meta or {}).get("retry_of"))
        if not charges:
            return  # charges and objectives were those of another config (a forced resume)
        # every run charged what its spec costs (a store edited to charge less would overspend the
        # budget) and every ok run's objective finite (bomix records anything else as failed/diverged)
        self.store.check_charges([r.spec for r in results] + list(pending), self.host.cost)
        objective = self.problem.objective
        for r in results:
            y = objective.on_curve(r.curve) if r.ok else None
            if y is not None and not (len(y) and np.isfinite(y[-1])):
                raise BomixError(f"store {path}: table curves, run {r.spec.run_id}: the run's status is ok "
                                 f"but its objective {objective.name} at its last step is not finite "
                                 "(bomix records that as diverged): restore store.sqlite from a backup")
