"""``Study``: an ask/tell client over a campaign store, for your own training script.

Each ``ask`` and each ``tell`` is one short SQLite transaction on the study's ``store.sqlite`` (the
same store and format as ``bomix run``), so any number of worker processes may share one study
directory: a spec is stored (status ``pending``, cost charged) before ``ask`` returns it, a
decision made while another worker dispatched a run is redone, and the budget is never overspent.

    study = Study.create("runs/mix", domains=["code", "web"], ladder={"20M": 2e7, "1B": 1e9},
                         steps=[1000, 4000], objective="val_loss", policy="mfbo", budget=3.0)
    while (trial := study.ask()) is not None:
        study.tell(trial.run_id, value=train(trial.mixture, trial.scale, trial.steps))
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bomix.campaign.checks import Host, outcome, run_meta
from bomix.campaign.ledger import Ledger
from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.history import History
from bomix.runs import RunResult, RunSpec
from bomix.mixture import Mixture
from bomix.layout import STORE_FILE, CampaignLayout
from bomix.store import Store, StoreReader
from bomix.store.checks import refuse
from bomix.study.config import StudyConfig, check_policy
from bomix.study.curve_input import told_curve

log = logging.getLogger("bomix.study")

#: optimistic decisions (outside the write lock) tried before one is made holding it
OPTIMISTIC_TRIES = 3


@dataclass(frozen=True)
class Trial:
    """One run for your script to train.

    Attributes:
        run_id: pass it back to :meth:`Study.tell`.
        mixture: domain -> weight (sums to 1).
        scale / params: the model scale's name and parameter count.
        steps: train to this many steps (a continuation: from ``resume_step``).
        seed: the run's seed.
        resume_from / resume_step: continue the checkpoint of that earlier run (only when the study
            was created with ``continuation=True``); with ``phases`` a *branch*: start from that run's state at
            step ``resume_step``, one of the schedule's phase starts (so save a checkpoint at each one), and
            train to ``steps`` on this trial's schedule.
        cost: what the run was charged, in target-run equivalents.
        schedule: on a study with ``phases``, what to train: ``[{phase, start_step, fraction, mixture}]`` in
            order (phase ``p`` from its ``start_step`` until the next one's); ``mixture`` is then the flat point
            (``"<phase>/<domain>"`` keys) to pass back unchanged. None without phases.
    """

    run_id: str
    mixture: dict[str, float]
    scale: str
    params: float
    steps: int
    seed: int
    resume_from: str | None
    resume_step: int
    cost: float
    schedule: list[dict] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Study:
    """A study directory opened by one process (open one per worker; never share across processes).

    Build with :meth:`create` or :meth:`load`.
    """

    def __init__(self, directory: str | Path, config: StudyConfig, store: Store):
        self.directory = Path(directory)
        self.config = config
        self.store = store
        self.problem = config.build_problem()
        self.space = self.problem.space
        self.policy = config.build_policy()
        self.policy.bind(self.problem, config.seed)
        host = Host("study", False, self.problem.supports_continuation, self._check_controller, self._price,
                    supports_branch=config.branching)
        self.ledger = Ledger(store, self.problem, host, config.seed)
        # the store's runs, read incrementally (each ask reads only what other workers added or finished)
        # and checked like data from outside: fidelity on the ladder, charge = what the spec costs,
        # an ok run's objective finite
        self._runs = store.runs(self.space.domains, objective=self.problem.objective, price=self._price,
                                check=lambda spec: self.space.check_fidelity(spec.fidelity))

    # ----- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path, domains: Sequence[str], ladder: Mapping[str, float], objective: Any,
               *, steps: int | Sequence[int], budget: float, policy: str | Mapping[str, Any] = "mfbo",
               exist_ok: bool = False, **options: Any) -> "Study":
        """Create a study in ``directory`` (validated before anything is written).

        Args:
            directory: the study directory (``store.sqlite``, ``summary.json``).
            domains, ladder, objective, steps, policy: see :class:`StudyConfig`; ``options`` are its
                other fields (``seed``, ``target``, ``metrics``, ``lower``, ``upper``, ``continuation``, ...).
            budget: compute budget in target-run equivalents (one full target run costs 1).
            exist_ok: open an existing study of the same config instead of refusing (raising the
                budget is allowed); several workers may all call ``create(..., exist_ok=True)``.
        """
        budget = _check_budget(budget)
        cfg = StudyConfig.make(domains, ladder, objective, steps=steps, policy=policy, **options)
        cfg.build_policy().bind(cfg.build_problem(), cfg.seed)  # a bad policy, option or seed fails before
        # the directory is made (binding is what Study() does next, with the store open)
        store = Store(directory)
        try:
            created = _write_meta(store, cfg, budget, exist_ok)
        except BaseException:
            store.close()
            raise
        log.info("%s study %s (%s, budget %.4g)", "created" if created else "opened", directory,
                 cfg.policy["name"], budget)
        return cls(directory, cfg, store)

    @classmethod
    def load(cls, directory: str | Path, budget: float | None = None, read_only: bool = False, *,
             policy: str | Mapping[str, Any] | None = None, seed: int | None = None) -> "Study":
        """Open an existing study; ``budget`` raises (never lowers below what was spent) its budget.

        ``read_only``: open the store read-only (``bomix show``): ask and tell then refuse to write.
        ``policy`` / ``seed``: what the caller expects the study to use (a policy name, or a name with its
        options): a study keeps those it was created with, so a different one is refused in one line
        before anything is written (None: whatever the study has).
        """
        directory = Path(directory)
        if not CampaignLayout(directory).store.is_file():
            raise BomixError(f"{directory} has no study (no {STORE_FILE}): create one with Study.create or `bomix ask`")
        if read_only and budget is not None:
            raise BomixError("a study opened read-only cannot change its budget")
        store = StoreReader(directory) if read_only else Store(directory)
        try:
            raw = store.get_meta("study")
            if raw is None:
                raise BomixError(f"{directory} is a `bomix run` campaign, not a study: inspect it with `bomix show`")
            try:
                cfg = StudyConfig.from_dict(raw)
                study = cls(directory, cfg, store)
            except BomixError as exc:
                raise refuse(store.path, "meta", "value", "key 'study'",
                             f"is not a valid study config ({str(exc).splitlines()[0]})") from None
            _check_kept(directory, cfg, policy, seed)
            if budget is not None:
                study.history()  # the store is checked before anything is written
                _set_budget(store, _check_budget(budget))
        except BaseException:
            store.close()
            raise
        return study

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- state -----------------------------------------------------------------------------
    @property
    def budget(self) -> float:
        budget = self.store.get_meta("budget")
        if budget is None:
            raise refuse(self.store.path, "meta", "value", "key 'budget'", "is missing",
                         f"set it again with `bomix ask {self.directory} --budget B`")
        return float(budget)

    def history(self) -> History:
        """The store's current view (every finished run and every pending one).

        Reads only the runs added or finished since the last call (:class:`bomix.store.runlog.RunLog`);
        the result is the same as a full read of the store.
        """
        with self.store._snapshot():
            results, pending, spent = self._runs.refresh()
            budget = self.budget
        return History(self.space, self.problem.objective, results, pending, budget, spent)

    def _price(self, spec: RunSpec) -> float:
        """What a run of ``spec`` is charged (target-run equivalents), as :meth:`ask` charges it."""
        return float(self.problem.cost(spec.scale, spec.steps, spec.start_step))

    def _check_controller(self, spec: RunSpec) -> None:
        if spec.controller is not None and not self.problem.supports_controller:
            raise BomixError(f"a study cannot run online controllers ({spec.controller.kind}): "
                             "choose a static-mixture policy")

    # ----- ask -------------------------------------------------------------------------------
    def ask(self, wait: bool = True, poll: float = 1.0, timeout: float | None = None) -> Trial | None:
        """The next run to train, stored (pending, charged) before it is returned.

        Args:
            wait: while the policy waits for pending runs of other workers, poll until it can decide.
            poll: seconds between polls.
            timeout: give up waiting after this many seconds (returns None).

        Returns:
            A :class:`Trial`, or None when the study is done (budget spent, or the policy has nothing
            left to run and no run is pending), or when not waiting / timed out.
        """
        t0 = time.monotonic()
        while True:
            outcome, trial = self._ask_once()
            if outcome == "run":
                return trial
            if outcome == "done" or not wait or (timeout is not None and time.monotonic() - t0 >= timeout):
                return None
            time.sleep(poll)

    def _ask_once(self) -> tuple[str, Trial | None]:
        """("run", trial) | ("wait", None) | ("done", None).

        The policy decides on a view read outside the write lock; the ledger stores its run only if no
        other worker added one meanwhile (else it decides again, the last try holding the lock).
        """
        for attempt in range(OPTIMISTIC_TRIES + 1):
            locked = attempt == OPTIMISTIC_TRIES
            with self.store.batch() if locked else _nothing():
                history = self.history()
                left = history.budget - history.spent
                if left <= BUDGET_EPS:
                    return "done", None
                specs = self.policy.ask(history, left, 1)[:1]
                if not specs:
                    return ("wait" if history.pending else "done"), None
                accepted = self.ledger.admit(history, specs, left)
                if not accepted:
                    log.info("the policy's next run does not fit the %.4g left: study done", left)
                    return ("wait" if history.pending else "done"), None
                stored = self.ledger.add_pending(history, accepted, shared=True)
            if stored is not None:
                (spec,), cost = stored, accepted[0][1]
                log.info("asked %s %s at (%s, %d) cost %.4g", spec.run_id, spec.mixture, spec.scale, spec.steps, cost)
                return "run", self._trial(spec, cost)
            log.debug("another worker dispatched a run while deciding: deciding again")
        raise AssertionError("unreachable: the locked attempt always stores or returns")

    def pending(self) -> list[Trial]:
        """The runs asked but not told yet (e.g. by a worker that died): train them again with the same ids."""
        return [self._trial(s, self._price(s)) for s in self.history().pending]

    def _trial(self, spec: RunSpec, cost: float) -> Trial:
        return Trial(run_id=str(spec.run_id), mixture=spec.mixture.to_dict(), scale=spec.scale,
                     params=float(self.space.scale(spec.scale).params), steps=int(spec.steps),
                     seed=int(spec.seed), resume_from=spec.resume_from,
                     resume_step=spec.start_step, cost=float(cost), schedule=self._schedule(spec))

    def _schedule(self, spec: RunSpec) -> list[dict] | None:
        """A phased study's trial schedule (see :class:`Trial`)."""
        if getattr(self.space, "phases", None) is None:
            return None
        return [{"phase": name, "start_step": start, "fraction": f, "mixture": dict(zip(self.space.base.domains,
                                                                                       map(float, w)))}
                for name, start, f, w in self.space.plan(spec.mixture, spec.steps)]

    # ----- tell ------------------------------------------------------------------------------
    def tell(self, run_id: str, value: float | None = None, *, curve: Any = None,
             metrics: Mapping[str, float] | None = None, status: str = "ok", error: str | None = None,
             wall_time: float = 0.0) -> dict:
        """Record a run's outcome; returns the new recommendation (see :meth:`recommend`).

        Give one of:
            value: the objective's metric at the run's last step, as your script measured it (an
                accuracy for ``{"maximize": "acc"}``); needs a one-metric objective.
            metrics: metric -> value at the run's last step.
            curve: the learning curve: a :class:`bomix.runs.Curve`, ``{"steps": [...], "metrics":
                {m: [...]}}``, a DataFrame with a ``step`` column, or ``[(step, value), ...]`` pairs
                (one-metric objective). For a continuation, the steps after ``resume_step`` suffice.
        status: ``ok``, ``failed`` (nothing to report: say why in ``error``) or ``diverged``. A
            non-finite objective value is recorded as ``diverged``.
        """
        history = self.history()  # the store is checked (and this worker's view brought up to date) before writing
        spec = self._pending_spec(run_id)
        if status not in ("ok", "failed", "diverged"):
            raise BomixError(f"status must be ok, failed or diverged, got {status!r}")
        given = [x is not None for x in (value, curve, metrics)]
        if status == "ok" and sum(given) != 1:
            raise BomixError("tell needs exactly one of value=, metrics= or curve= for an ok run")
        if status != "ok" and sum(given) > 1:
            raise BomixError("give at most one of value=, metrics= or curve=")
        c = told_curve(self.problem.objective, spec.steps, value, curve, metrics)
        if status == "ok":
            status, why = outcome(self.problem.objective, c)  # the ledger's rule: empty -> failed, non-finite -> diverged
            if status != "ok":
                error = error or why
        if status == "ok" and error is not None:
            raise BomixError("error= is the reason a run failed or diverged: give status='failed' (or 'diverged') "
                             "with it, or leave it out for an ok run")
        if spec.resume_from and len(c):
            parent = self._result(spec.resume_from)
            if parent is not None and parent.ok:
                c = parent.curve.truncate(spec.resume_step).concat(c)
        result = RunResult(spec, status, c, self._price(spec), float(wall_time), error,
                           {"params": self.space.scale(spec.scale).params})
        self.ledger.record(history, result, spec=spec)
        return self._after_result(run_id)

    def _pending_spec(self, run_id: str) -> RunSpec:
        """The spec of a pending run (from the view :meth:`history` just refreshed, else the store's row)."""
        spec = self._runs.pending_spec(run_id)
        if spec is not None:
            return spec
        status = self.store.run_status(run_id)
        if status is None:
            raise BomixError(f"unknown run id {run_id!r} in {self.directory}: use a run_id returned by ask")
        if status != "pending":
            raise BomixError(f"run {run_id} was already told (status {status}): each run is told once")
        return self.store.spec(run_id, self.space.domains)

    def _result(self, run_id: str) -> RunResult | None:
        self._runs.refresh()
        return self._runs.result(run_id)

    # ----- recommendations -------------------------------------------------------------------
    def recommend(self) -> dict:
        """The mixture to train at the target: ``{"mixture", "predicted": {"mean", "sd"} | None, ...}``."""
        history = self.history()
        mix = self.space.mixture(self.policy.recommend(history).weights)
        return {"mixture": mix.to_dict(), "predicted": _predicted(self.policy, history, mix),
                **self._feasibility(history, mix), **self._pareto(history, mix),
                "n_finished": len(history.results), "budget_used": history.spent}

    def pareto(self, plot: bool = False) -> dict | None:
        """The trade-off's Pareto set (``objectives``; None without): the policy's predicted set (``mobo``) or the
        observed front at the target, which member the preference recommends, and with ``plot`` the figure
        ``pareto.png`` in the study directory (see :func:`bomix.campaign.front.pareto_fields`)."""
        if not self.problem.objectives:
            return None
        history = self.history()
        mix = self.space.mixture(self.policy.recommend(history).weights)
        return self._pareto(history, mix, self.directory if plot else None)["pareto"]

    def _pareto(self, history: History, mix: Mixture, directory: Path | None = None) -> dict:
        """``{"pareto": fields}`` with a trade-off (``mix``: the recommendation), else {}."""
        if not self.problem.objectives:
            return {}
        from bomix.campaign.front import pareto_fields

        return {"pareto": pareto_fields(None, self.policy, self.problem, history, [mix.to_list()], directory)}

    def _feasibility(self, history: History, mix: Mixture) -> dict:
        """``{"pred_feasible": p}``: the policy's probability that ``mix`` meets the outcome constraints (none: {})."""
        return {"pred_feasible": self.policy.feasibility(history, mix)} if self.problem.constraints else {}

    def best(self) -> dict | None:
        """The best observed run at the target fidelity (``run_id``, ``mixture``, ``value``), or None."""
        from bomix.summary import best_observed

        return best_observed(self.history())

    def _after_result(self, run_id: str) -> dict:
        from bomix.summary import study_summary, write_summary

        history = self.history()
        mix = self.space.mixture(self.policy.recommend(history).weights)
        fallback = bool(self.policy.recommendation_fallback)
        pred = _predicted(self.policy, history, mix)
        feas = self._feasibility(history, mix)
        front = self._pareto(history, mix)
        self.store.add_recommendation(len(history.results), run_id, history.spent, mix, None, None,
                                      predicted=None if pred is None else (pred["mean"], pred["sd"]), fallback=fallback,
                                      pred_feasible=feas.get("pred_feasible"))
        rec = {"mixture": mix.to_dict(), "predicted": pred, "fallback": fallback, **feas, **front,
               "n_finished": len(history.results), "budget_used": history.spent}
        summary = study_summary(self, history, rec)
        # summary.json is written by the worker whose view holds the latest finished run: under the store's
        # write lock, and only if no run finished since this view (that run's worker writes a newer one),
        # so a slower worker never overwrites a newer summary with an older view
        with self.store.batch():
            if self.store.last_finish_seq() == self._runs.last_finish_seq:
                write_summary(self.directory, summary)
        return rec


def _predicted(policy, history: History, mix: Mixture) -> dict | None:
    """``{"mean", "sd"}`` of the policy's prediction of ``mix`` at the target (None: no model, or not finite)."""
    from bomix.summary import predicted

    return predicted(policy, history, mix)


def _check_kept(directory: Path, cfg: StudyConfig, policy: str | Mapping[str, Any] | None, seed: int | None) -> None:
    """Refuse a policy (a name, or a name and options) or a seed other than the study's: it keeps its own."""
    def desc(p: Mapping[str, Any]) -> str:
        opts = {k: v for k, v in p.items() if k != "name"}
        return f"{p['name']}" + (f" {opts}" if opts else "")

    if policy is not None:
        want = {"name": policy} if isinstance(policy, str) else dict(policy)
        check_policy(want)  # a known name, plain options
        same = want["name"] == cfg.policy["name"] if isinstance(policy, str) else want == cfg.policy
        if not same:
            raise BomixError(f"the study in {directory} uses policy {desc(cfg.policy)}, not {desc(want)}: a study "
                             "keeps the policy it was created with; leave the policy out to continue it, or start a "
                             "new study in another directory "
                             f"(bomix ask NEW_DIR --domains ... --policy {want['name']})")
    if seed is not None and int(seed) != cfg.seed:
        raise BomixError(f"the study in {directory} uses seed {cfg.seed}, not {seed}: a study keeps the seed it was "
                         "created with; leave the seed out to continue it, or start a new study in another directory")


def _check_budget(budget: Any) -> float:
    try:
        b = float(budget)
    except (TypeError, ValueError):
        raise BomixError(f"budget must be a number of target-run equivalents, got {budget!r}") from None
    if not (math.isfinite(b) and b > 0):
        raise BomixError(f"budget must be a finite number > 0 target-run equivalents, got {budget!r}")
    return b


def _write_meta(store: Store, cfg: StudyConfig, budget: float, exist_ok: bool) -> bool:
    """Write a new study's meta in one transaction; True if created, False if an equal one was opened."""
    new = cfg.to_dict()
    with store.batch():
        old = store.get_meta("study")
        if old is None and store.get_meta("config") is not None:
            raise BomixError(f"{store.directory} holds a `bomix run` campaign: choose another directory for the study")
        if old is not None:
            if not exist_ok:
                raise BomixError(f"a study already exists in {store.directory}: open it with Study.load "
                                 "(or create(..., exist_ok=True))")
            differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if differ:
                raise BomixError(f"the study in {store.directory} has a different {', '.join(differ)}: "
                                 "choose another directory")
            if budget > float(store.get_meta("budget")):
                store.set_meta(budget=budget)
            return False
        store.set_meta(study=new, budget=budget, **run_meta(
            {"study": new}, cfg.build_problem(), policy=cfg.policy["name"], backend="study", seed=cfg.seed,
            created=time.time(), modules=()))
        return True


def _set_budget(store: Store, budget: float) -> None:
    with store.batch():
        spent = store.spent()
        if budget + BUDGET_EPS < spent:
            raise BomixError(f"budget {budget:g} is below the {spent:.4g} already spent: give a larger budget")
        store.set_meta(budget=budget)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None
