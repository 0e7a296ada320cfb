"""The campaign loop: a :class:`bomix.campaign.ledger.Ledger` plus an executor, a progress bar and stop
conditions. Ask the policy, admit and dispatch runs, record results, recommend, repeat.

What it reports (recommendations, progress, summary) is in :mod:`bomix.campaign.report`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bomix.backends.base import Backend
from bomix.campaign.checks import Host, config_diff_error, config_hash, run_meta
from bomix.campaign.ledger import Ledger
from bomix.campaign.problem import ProblemConfig, build_problem, phased_backend
from bomix.campaign.report import CampaignReport
from bomix.config import config_diff
from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.executors.base import Executor
from bomix.executors.inline import InlineExecutor
from bomix.history import History
from bomix.layout import CampaignLayout, write_json_atomic
from bomix.lock import CampaignLock
from bomix.policies.base import Policy
from bomix.runs import RunResult
from bomix.store import Store
from bomix.warmstart import WarmStartConfig, load_reused

log = logging.getLogger("bomix.campaign")


class Campaign:
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
        warm_start: earlier campaign directories to reuse, with a domain mapping
            (:class:`bomix.warmstart.WarmStartConfig` or its mapping/list form): their runs inform GP policies
            as another task, are re-read read-only at every start and never charged (:mod:`bomix.warmstart`).

    The campaign holds an exclusive lock on its directory (:class:`bomix.lock.CampaignLock`) from
    construction until :meth:`close` (or the end of a ``with`` block): a second process refuses to
    start. Infrastructure failures (a worker died, a node was lost) are retried up to the executor's
    ``max_retries``, each retry a new run charged to the budget.
    """

    def __init__(self, backend: Backend, policy: Policy, *, budget: float, seed: int = 0,
                 directory: str | Path, problem: ProblemConfig | None = None, executor: Executor | None = None,
                 batch_size: int = 1, max_runs: int | None = None, stop_regret: float | None = None,
                 max_wall_time: float | None = None, config: Mapping | None = None, force: bool = False,
                 progress: bool = False, logger: Any = None, warm_start: Any = None):
        if not budget or float(budget) <= 0:
            raise BomixError(f"budget must be > 0 target-run equivalents, got {budget}: set budget=...")
        if batch_size < 1:
            raise BomixError(f"batch_size must be >= 1, got {batch_size}")
        backend = phased_backend(backend, problem)
        self.backend, self.policy = backend, policy
        self.budget, self.seed = float(budget), int(seed)
        self.directory = Path(directory)
        self.problem = build_problem(backend, problem)
        self.executor = executor or InlineExecutor()
        self.batch_size = int(batch_size)
        self.max_runs, self.stop_regret, self.max_wall_time = max_runs, stop_regret, max_wall_time
        self.config = dict(config) if config is not None else {
            "backend": backend.describe(), "policy": getattr(policy, "name", type(policy).__name__),
            "seed": self.seed, "objective": self.problem.objective.to_dict(),
            **({"constraints": [c.to_dict() for c in self.problem.constraints]} if self.problem.constraints else {})}
        self.warm = WarmStartConfig.parse(warm_start)
        if self.warm is not None and config is None:
            self.config["warm_start"] = self.warm.to_dict()
        self.reused = None if self.warm is None else load_reused(self.warm, self.problem.space, self.problem.objective)
        if self.reused is not None and not hasattr(policy, "transfer_prior"):
            log.warning("warm start: policy %s does not model earlier campaigns' runs: it ignores the %d reused runs",
                        getattr(policy, "name", type(policy).__name__), self.reused.n_reused)
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
        self.ledger = Ledger(self.store, self.problem, Host.of_backend(backend), self.seed,
                             max_retries=self.executor.max_retries)
        self.report = CampaignReport(backend=backend, policy=policy, problem=self.problem, store=self.store,
                                     logger=self.logger, budget=self.budget, seed=self.seed,
                                     directory=self.directory, progress=progress)

    @property
    def n_retries(self) -> int:
        return self.ledger.n_retries

    def close(self) -> None:
        """Close the store and release the directory lock (idempotent)."""
        if self.lock.held:
            self.store.close()
            self.lock.release()

    def __enter__(self) -> "Campaign":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_config(self) -> None:
        """Refuse a directory of another config (unless ``force``) or a budget below what was spent;
        record the config's meta (first run, or a forced change) and the budget."""
        old, stored = self.store.get_meta("config_hash"), self.store.get_meta("config")
        self._config_changed = (old is not None and old != config_hash(self.config)  # a forced resume, another config
                                and (stored is None or config_diff(stored, self.config) != ""))
        if self._config_changed and not self.force:
            raise config_diff_error(self.directory, stored or {}, self.config)
        if old is not None:
            spent = self.store.load(self.problem.space.domains)[2]
            if self.budget < spent - BUDGET_EPS:
                raise BomixError(f"budget={self.budget:g} is below the {spent:.4g} target-run equivalents already "
                                 f"spent in {self.directory}: set budget >= {spent:.4g} to resume")
        if old is None or self._config_changed:
            self.store.set_meta(**run_meta(
                self.config, self.problem, policy=getattr(self.policy, "name", type(self.policy).__name__),
                backend=self.backend.name, seed=self.seed, created=self.store.get_meta("created", time.time())))
        self.store.set_meta(budget=self.budget)

    def _note_reuse(self) -> None:
        """Record the reuse in the store's meta; say so when the old stores changed since the last start."""
        rep = self.reused.report()
        old = self.store.get_meta("warm_start")
        if isinstance(old, dict) and old.get("fingerprint") != rep["fingerprint"]:
            log.warning("warm start: the reused stores changed since this campaign last started (%s runs, now %d)",
                        old.get("n_reused"), rep["n_reused"])
        self.store.set_meta(warm_start=rep)

    def _warn_design_cap(self, history: History) -> None:
        """Warn when ``max_runs`` ends the campaign inside the policy's initial design: no decision would be made and
        most of the budget stay unspent (a cap chosen for a smaller design)."""
        n_init = self.policy.n_initial(history)
        if self.max_runs is not None and n_init and self.max_runs <= n_init:
            log.warning("max_runs=%d stops the campaign inside %s's initial design of %d runs: it will make no decision "
                        "and leave most of the budget unspent; set max_runs above %d (or a smaller policy.n_init)",
                        self.max_runs, self.policy.name, n_init, n_init)

    def _check_stored(self, results: list[RunResult], pending: list) -> None:
        self.ledger.check_stored(results, pending, charges=not self._config_changed)

    # ----- the loop --------------------------------------------------------------------------
    def run(self) -> dict:
        """Run (or resume) to a stop condition; returns the summary (also in summary.json)."""
        space = self.problem.space
        results, pending, spent = self.store.load(space.domains)
        self._check_stored(results, pending)
        history = History(space, self.problem.objective, results, pending, self.budget, spent, reused=self.reused)
        if self.reused is not None:
            self._note_reuse()
        if results or pending:
            log.info("resuming %s: %d finished, %d pending, %.3f spent", self.directory,
                     len(results), len(pending), spent)
        self._warn_design_cap(history)
        self.report.start()
        t0 = time.time()
        self.executor.start(self.backend)
        bar = self.report.bar(spent)
        try:
            for spec in pending:  # dispatched before a kill: run them again, same spec and seed
                self.executor.submit(spec)
            last = self.store.last_recommendation()
            # a result without its recommendation (killed in between), or a stored numerical fallback (never the
            # final answer of a resume): the resumed policy recommends again (a new row)
            if results and (last is None or last["n_finished"] < len(results) or last["fallback"]):
                self.report.recommend(history, results[-1].spec.run_id)
            stop_reason = self._loop(history, t0, bar)
        finally:
            if bar:
                bar.close()
            self.executor.shutdown()
        if not history.results:
            self.report.recommend(history, None)
        summary = self.report.summary(history, stop_reason, time.time() - t0, self.n_retries)
        if self.reused is not None:
            summary["warm_start"] = {"dirs": list(self.warm.dirs), **self.reused.report()}
        write_json_atomic(self.layout.summary, summary)
        return summary

    def _loop(self, history: History, t0: float, bar) -> str:
        """Dispatch and record until a stop condition and no run in flight; returns the stop reason."""
        stop_reason, policy_done = None, False
        while True:
            if stop_reason is None and not policy_done:
                stop_reason, policy_done = self._dispatch(history, t0)
                bar and bar.update(min(history.spent, self.budget) - bar.n)
            if self.executor.n_running == 0:
                break
            for res in self.executor.wait():
                res = self._record(history, res, stopping=stop_reason is not None)
                if res is None:
                    continue
                rec = self.report.recommend(history, res.spec.run_id)
                self.report.finished(history, res, rec)
                if bar:
                    bar.set_postfix_str(self.report.postfix(history, rec))
                if (self.stop_regret is not None and rec.get("regret") is not None and rec.get("feasible") is not False
                        and rec["regret"] <= self.stop_regret and stop_reason is None):
                    stop_reason = "regret"
        return stop_reason or ("policy" if policy_done else "budget")

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
        accepted = self.ledger.admit(history, specs, left) if specs else []
        if not accepted:  # the policy waits for pending runs, or is done (or nothing it wants fits the budget)
            return None, self.executor.n_running == 0
        for spec, cost in zip(self.ledger.add_pending(history, accepted), [c for _, c in accepted]):
            self.executor.submit(spec)
            log.info("dispatched %s %s at (%s, %d) cost %.4g", spec.run_id, spec.mixture, spec.scale,
                     spec.steps, cost)
        return None, False

    def _record(self, history: History, res: RunResult, stopping: bool = False) -> RunResult | None:
        """Record one result through the ledger; an infrastructure failure is retried (a new run,
        submitted) unless the campaign is stopping or at ``max_runs``."""
        retry = not stopping and (self.max_runs is None or history.n_dispatched < self.max_runs)
        res, new = self.ledger.record(history, res, retry=retry)
        if res is not None and res.ok:
            log.info("finished %s at (%s, %d): %s=%.5g, cost %.4g, spent %.4g/%.4g", res.spec.run_id,
                     res.spec.scale, res.spec.steps, self.problem.objective.name,
                     self.problem.objective(res.curve.final()), res.cost, history.spent, self.budget)
        if new is not None:
            self.executor.submit(new)
        return res


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
