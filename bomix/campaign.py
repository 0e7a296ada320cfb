"""The decision loop: ask the policy, charge and dispatch runs, store results, recommend, repeat."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bomix.backends.base import Backend
from bomix.errors import BomixError
from bomix.executors.base import Executor, is_infra_failure
from bomix.executors.inline import InlineExecutor
from bomix.history import History
from bomix.layout import SUMMARY_FILE, CampaignLayout, write_json_atomic
from bomix.lock import CampaignLock
from bomix.objective import Objective
from bomix.policies.base import Policy, Problem
from bomix.proposals import Proposals
from bomix.runs import RunResult, RunSpec, validate_run_id
from bomix.space import Fidelity, Mixture, Space
from bomix.store import Store

log = logging.getLogger("bomix.campaign")

__all__ = ["SUMMARY_FILE", "Campaign", "ProblemConfig", "build_problem", "run_campaign"]
BUDGET_EPS = 1e-9


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


def config_hash(config: Mapping) -> str:
    """Stable hash of the parts of a config that define a campaign's results."""
    from bomix.config import normalized

    return hashlib.sha256(json.dumps(normalized(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


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

    # ----- set-up ----------------------------------------------------------------------------
    def _check_config(self) -> None:
        h = config_hash(self.config)
        old = self.store.get_meta("config_hash")
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

    def _optimum(self) -> tuple[Mixture, float] | None:
        if not self.backend.has_truth:
            return None
        cached = self.store.get_meta("optimum")
        if cached is not None:
            return self.problem.space.mixture(cached["mixture"]), float(cached["value"])
        opt = self.backend.optimum(self.problem.objective)
        if opt is None:
            return None
        m, v = opt
        self.store.set_meta(optimum={"mixture": m.to_list(), "value": float(v)})
        return self.problem.space.mixture(m.weights), float(v)

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

    @staticmethod
    def _resumed_seed(history: History, spec: RunSpec) -> int:
        prev = {s.run_id: s for s in history.all_specs()}[spec.resume_from]
        return int(prev.seed)

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

    def _recommend(self, history: History, run_id: str | None) -> dict:
        mix = self.problem.space.mixture(self.policy.recommend(history).weights)
        self._check_prediction(history, mix)
        tv = regret = extrapolated = None
        recipe = self.policy.recipe(history) if callable(getattr(self.policy, "recipe", None)) else None
        if recipe is not None and self.opt is not None and hasattr(self.backend, "true_value_recipe"):
            # target mode (online methods): the recipe itself at the target, regret vs the best
            # static mixture left unclipped (negative = the recipe beats every static mixture)
            tv = self.backend.true_value_recipe(recipe, self.problem.objective)
            regret = float(tv) - self.opt[1]
        elif self.opt is not None:
            tv = self.backend.true_value(mix, self.problem.space.target, self.problem.objective)
            regret = max(float(tv) - self.opt[1], 0.0)
            extrapolated = self.backend.extrapolated(mix, self.problem.space.target)
        last = self.store.last_recommendation()
        if last is None or not np.allclose(last["mixture"], mix.weights, rtol=0, atol=1e-9):
            log.info("new recommendation after %d runs: %s%s", len(history.results), mix,
                     "" if regret is None else f" (true value {tv:.5g}, regret {regret:.4g}"
                     + (", extrapolated)" if extrapolated else ")"))
        self.store.add_recommendation(len(history.results), run_id, history.spent, mix, tv, regret, extrapolated)
        return {"mixture": mix, "true_value": tv, "regret": regret, "extrapolated": extrapolated}

    def _check_prediction(self, history: History, mix) -> None:
        """Warn when the new recommendation's predicted target value is worse than an earlier one's by more
        than its own predicted sd (policies without ``predict`` are not checked)."""
        pred = self.policy.predict(history, mix)
        if pred is None:
            return
        best = getattr(self, "_best_predicted", None)
        worse = best is not None and pred[0] > best + pred[1]
        if worse and not getattr(self, "_flagged", False):  # once per stretch of worse recommendations
            log.warning("recommendation after %d runs is predicted worse than an earlier one: %.4g +- %.2g vs %.4g",
                        len(history.results), pred[0], pred[1], best)
        self._flagged = worse
        self._best_predicted = pred[0] if best is None else min(best, pred[0])

    # ----- reporting -------------------------------------------------------------------------
    def _log(self, history: History, res: RunResult, rec: dict) -> None:
        y = self.problem.objective.on_curve(res.curve) if res.ok else np.zeros(0)
        n = len(history.results)
        self.logger.run_finished(res, float(y[-1]) if len(y) else None, n, history.spent)
        self.logger.recommended(rec, n)

    def _bar(self, spent: float):
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        bar = tqdm(total=self.budget, desc=f"{self.policy.name}@{self.backend.name}", unit="target-run",
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} [{elapsed}<{remaining}{postfix}]",
                   dynamic_ncols=True)
        bar.update(min(spent, self.budget))
        return bar

    @staticmethod
    def _postfix(history: History, rec: dict) -> str:
        s = f"runs={len(history.results)}"
        if rec.get("regret") is not None:
            s += f" regret={rec['regret']:.4g}"
        return s

    def summary(self, history: History, stop_reason: str | None, wall: float) -> dict:
        last = self.store.last_recommendation()
        space = self.problem.space
        fids = Counter(f"{s.scale}@{s.steps}" for s in history.all_specs())
        target = f"{space.target.scale}@{space.target.steps}"
        reached_target = any(s.fidelity == space.target or (s.scale == space.target.scale and s.steps >= space.target.steps)
                             for s in history.all_specs())
        if history.results and not reached_target and self.policy.name not in ("uniform", "fixed"):
            log.warning("no run reached the target fidelity %s: the recommendation is extrapolated", target)
        out = {
            "policy": self.policy.name,
            "backend": self.backend.name,
            "objective": self.problem.objective.name,
            "seed": self.seed,
            "budget": self.budget,
            "budget_used": history.spent,
            "n_runs": len(history.results),
            "n_ok": len(history.ok),
            "n_failed": sum(not r.ok for r in history.results),
            "n_retries": self.n_retries,
            "recommendation": dict(zip(space.domains, last["mixture"])) if last else None,
            "true_value": last["true_value"] if last else None,
            "regret": last["regret"] if last else None,
            "extrapolated": last.get("extrapolated") if last else None,
            **({"gain_over_static": -last["regret"]} if (
                getattr(self.policy, "mode", "proxy") == "target" and last and last["regret"] is not None) else {}),
            "optimum_value": None if self.opt is None else self.opt[1],
            "target": {"scale": space.target.scale, "steps": space.target.steps},
            "fidelities": dict(sorted(fids.items())),
            "reached_target": reached_target,
            "stop_reason": stop_reason,
            "policy_info": self.policy.diagnostics(),
            "wall_time": wall,
            "directory": str(self.directory),
        }
        from bomix.summary import trust_fields  # best so far, predicted +- sd, policy_info

        out.update(trust_fields(self.policy, history, self.store, last))
        return out


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
