"""The decision loop: ask the policy, charge and dispatch runs, store results, recommend, repeat.

What the loop checks (config fingerprint, stored and proposed specs, results) is in
:mod:`bomix.campaign_checks`; what it reports (recommendations, progress, summary) in :mod:`bomix.campaign_report`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bomix.backends.base import Backend
from bomix.campaign_checks import BUDGET_EPS, CampaignChecks
from bomix.campaign_report import CampaignReport
from bomix.errors import BomixError
from bomix.executors.base import Executor, is_infra_failure
from bomix.executors.inline import InlineExecutor
from bomix.history import History
from bomix.layout import SUMMARY_FILE, CampaignLayout, write_json_atomic
from bomix.lock import CampaignLock
from bomix.objective import Objective
from bomix.policies.base import Policy, Problem
from bomix.proposals import Proposals
from bomix.runs import RunResult, RunSpec
from bomix.space import Space
from bomix.store import Store

log = logging.getLogger("bomix.campaign")

__all__ = ["SUMMARY_FILE", "Campaign", "ProblemConfig", "build_problem", "run_campaign"]


@dataclass
class ProblemConfig:
    """Problem-level settings applied on top of the backend's space.

    Attributes:
        objective: ``None`` (backend default), a metric name or an objective mapping
            (see :meth:`Objective.from_config`).
        lower / upper: per-domain weight bounds (domain -> bound).
        max_epochs: repetition cap.
        tokens: per-domain token counts (for ``proportional`` and the cap).
    """

    objective: Any = None
    lower: Mapping[str, float] | None = None
    upper: Mapping[str, float] | None = None
    max_epochs: float | None = None
    tokens: Mapping[str, float] | None = None


def build_problem(backend: Backend, cfg: ProblemConfig | None = None) -> Problem:
    """The policy-facing problem: the backend's space with the problem's constraints applied."""
    cfg = cfg or ProblemConfig()
    space: Space = backend.space.with_constraints(
        lower=cfg.lower, upper=cfg.upper, max_epochs=cfg.max_epochs, tokens=cfg.tokens)
    objective = Objective.from_config(cfg.objective, backend.metrics, backend.default_objective)
    return Problem(
        space=space,
        objective=objective,
        cost=backend.cost_model,
        supports_schedule=backend.supports_schedule,
        supports_continuation=backend.supports_continuation,
        supports_controller=backend.supports_controller,
        metrics=tuple(backend.metrics),
        proposals=Proposals(space, backend.candidates(), backend.trust_region()),
    )


class Campaign(CampaignChecks, CampaignReport):
    """One campaign in one directory; re-running it on the same directory resumes it.

    Args:
        backend: executes runs (and, for simulators, tells true values).
        policy: proposes runs and recommends.
        budget: total compute in target-run equivalents (> 0).
        seed: campaign seed (policy randomness and run seeds).
        directory: campaign directory (store + summary.json).
        problem: objective and constraints on top of the backend's space.
        executor: where runs execute (default inline).
        batch_size: runs in flight at once (capped by the executor's capacity).
        max_runs: stop after this many dispatched runs.
        stop_regret: stop once a recommendation's regret is <= this (simulators).
        max_wall_time: stop dispatching after this many seconds.
        config: the resolved config to record and to check on resume (default: names + seed).
        force: resume even if the directory was made by a different config, and move an empty or
            unreadable store aside instead of refusing it.
        progress: show a progress bar.
        logger: optional :class:`bomix.loggers.Logger` (TensorBoard, W&B) for run curves and progress.

    The campaign holds an exclusive lock on its directory (:class:`bomix.lock.CampaignLock`) from
    construction until :meth:`close` (or the end of a ``with`` block): a second process refuses to
    start. Infrastructure failures (a worker died, a node was lost) are retried up to the executor's
    ``max_retries``, each retry a new run charged to the budget.
    """

    def __init__(
        self,
        backend: Backend,
        policy: Policy,
        *,
        budget: float,
        seed: int = 0,
        directory: str | Path,
        problem: ProblemConfig | None = None,
        executor: Executor | None = None,
        batch_size: int = 1,
        max_runs: int | None = None,
        stop_regret: float | None = None,
        max_wall_time: float | None = None,
        config: Mapping | None = None,
        force: bool = False,
        progress: bool = False,
        logger: Any = None,
    ):
        if not budget or float(budget) <= 0:
            raise BomixError(f"budget must be > 0 target-run equivalents, got {budget}: set budget=...")
        if batch_size < 1:
            raise BomixError(f"batch_size must be >= 1, got {batch_size}")
        self.backend, self.policy = backend, policy
        self.budget, self.seed = float(budget), int(seed)
        self.directory = Path(directory)
        self.problem = build_problem(backend, problem)
        self.executor = executor or InlineExecutor()
        self.batch_size = int(batch_size)
        self.max_runs, self.stop_regret, self.max_wall_time = max_runs, stop_regret, max_wall_time
        self.config = dict(config) if config is not None else {
            "backend": backend.describe(), "policy": getattr(policy, "name", type(policy).__name__),
            "seed": self.seed, "objective": self.problem.objective.to_dict()}
        self.force, self.progress = force, progress
        from bomix.loggers import NullLogger

        self.logger = logger or NullLogger()
        self.policy.bind(self.problem, self.seed)  # validate before anything is written
        self.layout = CampaignLayout(self.directory)
        self.lock = CampaignLock(self.directory).acquire()
        try:
            self.layout.remove_stale_temporaries()
            self.store = Store(self.directory, force=force)
            try:
                self._check_config()
            except BaseException:
                self.store.close()
                raise
        except BaseException:
            self.lock.release()
            raise
        self.max_retries = int(getattr(self.executor, "max_retries", 0) or 0)
        self.n_retries = 0

    def close(self) -> None:
        """Close the store and release the directory lock (idempotent)."""
        if self.lock.held:
            self.store.close()
            self.lock.release()

    def __enter__(self) -> "Campaign":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- the loop --------------------------------------------------------------------------
    def run(self) -> dict:
        """Run (or resume) to a stop condition; returns the summary (also in summary.json)."""
        space = self.problem.space
        results, pending, spent = self.store.load(space.domains)
        self._check_stored(results, pending)
        self.n_retries = sum(1 for s in [r.spec for r in results] + pending if (s.meta or {}).get("retry_of"))
        history = History(space, self.problem.objective, results, pending, self.budget, spent)
        if results or pending:
            log.info("resuming %s: %d finished, %d pending, %.3f spent", self.directory,
                     len(results), len(pending), spent)
        self.opt = self._optimum()
        t0 = time.time()
        stop_reason = None
        self.executor.start(self.backend)
        bar = self._bar(spent)
        try:
            for spec in pending:  # dispatched before a kill: run them again, same spec and seed
                self.executor.submit(spec)
            last = self.store.last_recommendation()
            if results and (last is None or last["n_finished"] < len(results)):
                self._recommend(history, results[-1].spec.run_id)
            policy_done = False
            while True:
                if stop_reason is None and not policy_done:
                    stop_reason, policy_done = self._dispatch(history, t0)
                    bar and bar.update(min(history.spent, self.budget) - bar.n)
                if self.executor.n_running == 0:
                    break
                for res in self.executor.wait():
                    self._stopping = stop_reason is not None
                    res = self._record(history, res)
                    if res is None:
                        continue
                    rec = self._recommend(history, res.spec.run_id)
                    self._log(history, res, rec)
                    if bar:
                        bar.set_postfix_str(self._postfix(history, rec))
                    if (self.stop_regret is not None and rec.get("regret") is not None
                            and rec["regret"] <= self.stop_regret and stop_reason is None):
                        stop_reason = "regret"
            if stop_reason is None:
                stop_reason = "policy" if policy_done else "budget"
        finally:
            if bar:
                bar.close()
            self.executor.shutdown()
        if not history.results:
            self._recommend(history, None)
        summary = self.summary(history, stop_reason, time.time() - t0)
        write_json_atomic(self.layout.summary, summary)
        return summary

    def _dispatch(self, history: History, t0: float) -> tuple[str | None, bool]:
        """Ask for as many runs as there is room for; returns (stop_reason, policy_done)."""
        room = self.batch_size - self.executor.n_running
        if room <= 0:
            return None, False
        if self.max_runs is not None:
            room = min(room, self.max_runs - history.n_dispatched)
            if room <= 0:
                return "max_runs", True
        if self.max_wall_time is not None and time.time() - t0 > self.max_wall_time:
            return "wall_time", True
        left = self.budget - history.spent
        if left <= BUDGET_EPS:
            return "budget", True
        specs = self.policy.ask(history, left, room)[:room]
        if not specs:  # the policy waits for pending runs, or is done when none are running
            return None, self.executor.n_running == 0
        accepted: list[tuple[RunSpec, float]] = []
        for spec in specs:
            spec = self._validate(spec, history)
            cost = self.backend.cost(spec)
            if cost > left + BUDGET_EPS:
                log.info("not starting %s at %s: cost %.4g exceeds the budget left %.4g",
                         spec.mixture, spec.fidelity, cost, left)
                continue
            if spec.seed is None and spec.resume_from:
                spec = spec.with_(seed=self._resumed_seed(history, spec))
            accepted.append((spec, cost))
            left -= cost
        if not accepted:  # nothing the policy wants fits the budget
            return None, self.executor.n_running == 0
        # run ids (and default seeds) are allocated inside the store's insert transaction
        specs = self.store.add_pending(accepted, seed_for=lambda idx: self.seed * 1_000_003 + idx)
        for spec, (_, cost) in zip(specs, accepted):
            history.pending.append(spec)
            history.spent += cost
            self.executor.submit(spec)
            log.info("dispatched %s %s at (%s, %d) cost %.4g", spec.run_id, spec.mixture, spec.scale,
                     spec.steps, cost)
        return None, False

    @staticmethod
    def _resumed_seed(history: History, spec: RunSpec) -> int:
        prev = {s.run_id: s for s in history.all_specs()}[spec.resume_from]
        return int(prev.seed)

    def _record(self, history: History, res: RunResult) -> RunResult | None:
        """Check and store one result (and, for an infrastructure failure, its retry in the same transaction)."""
        res = self._checked(res, history)
        if res is None:
            return None
        retry = self._retry_of(res, history)
        new = self.store.finish(res, retry=retry)
        history.pending = [s for s in history.pending if s.run_id != res.spec.run_id]
        history.results.append(res)
        if not res.ok:
            log.warning("run %s %s: %s", res.spec.run_id, res.status, (res.error or "").splitlines()[:1])
        else:
            log.info("finished %s at (%s, %d): %s=%.5g, cost %.4g, spent %.4g/%.4g", res.spec.run_id,
                     res.spec.scale, res.spec.steps, self.problem.objective.name, self.problem.objective(res.curve.final()),
                     res.cost, history.spent, self.budget)
        if new is not None:
            self.n_retries += 1
            history.pending.append(new)
            history.spent += retry[1]
            self.executor.submit(new)
            log.info("retrying %s as %s (attempt %d of %d), charged %.4g", res.spec.run_id, new.run_id,
                     new.meta["attempt"], self.max_retries, retry[1])
        return res

    def _retry_of(self, res: RunResult, history: History) -> tuple[RunSpec, float] | None:
        """(spec, charge) of a retry of ``res`` if it is an infrastructure failure with retries and budget left."""
        if not is_infra_failure(res) or getattr(self, "_stopping", False):
            return None
        meta = dict(res.spec.meta or {})
        attempt = int(meta.get("attempt", 0)) + 1
        if attempt > self.max_retries:
            return None
        if self.max_runs is not None and history.n_dispatched >= self.max_runs:
            return None
        cost = float(self.backend.cost(res.spec))
        if cost > self.budget - history.spent + BUDGET_EPS:
            log.warning("not retrying %s: its cost %.4g exceeds the budget left", res.spec.run_id, cost)
            return None
        meta.update(retry_of=meta.get("retry_of", res.spec.run_id), attempt=attempt)
        return res.spec.with_(run_id=None, meta=meta), cost


def run_campaign(backend: Backend, policy: Policy, *, budget: float, seed: int = 0,
                 directory: str | Path | None = None, executor: Executor | None = None,
                 batch_size: int = 1, max_runs: int | None = None, progress: bool = False,
                 problem: ProblemConfig | None = None, **kw: Any) -> dict:
    """Run a whole campaign (a temporary directory when ``directory`` is None); returns the summary."""
    if directory is None:
        import tempfile

        directory = tempfile.mkdtemp(prefix="bomix-")
    camp = Campaign(backend, policy, budget=budget, seed=seed, directory=directory, executor=executor,
                    batch_size=batch_size, max_runs=max_runs, progress=progress, problem=problem, **kw)
    try:
        return camp.run()
    finally:
        camp.close()
