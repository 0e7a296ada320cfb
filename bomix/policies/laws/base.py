"""Shared machinery of the law policies: a prescribed design, the budget rule, pools, refits.

A law policy spends its budget on a fixed design of runs (a function of the problem and the seed
only, so a resumed campaign rebuilds it), fits its law on the history and recommends the law's
optimum for the target fidelity.

Design sizing (one rule for every law, :meth:`LawPolicy.sized_design`): the published design (its run
count, its mixtures, its fidelity defaults) is run as published when it costs at most
:data:`DESIGN_BUDGET_SHARE` of the campaign budget. When it costs more, the fidelities the config leaves
free (scale and/or steps; for laws whose design spans scales, the common step count) are chosen among the
answered ones at the proxy scales (below the target): the longest steps, then the largest scale, at which
every run of the design fits the share. Only when even the cheapest choice cannot hold every run does the
budget rule below cut the design (a WARNING). What was chosen and why is ``design`` in
:meth:`LawPolicy.diagnostics` (``summary.json``'s ``policy_info``). A config that fixes every free
fidelity of a law keeps today's behaviour (its design, cut by the budget rule), as does a history without
a finite budget.

Budget rule: when the (sized) design still costs more than the campaign budget, the policy keeps the
longest prefix of its (priority-ordered) design that fits and logs a warning on
``bomix.policies.<name>``.

Refits: the law is fitted on the first ``2**j`` finished runs (the largest power of two) until the
design is complete, then on all of them: a pure function of the history, and cheap enough to call
after every result.

Fallbacks: a law that cannot be fitted on part of its design recommends the centre for that decision
(counted, logged at DEBUG); one that cannot be fitted on its whole design (or whose design cannot run)
recommends the centre, says why once at WARNING and reports it in :meth:`LawPolicy.diagnostics`
(``summary.json``'s ``policy_info``). Nothing of a fallback is persisted: a resumed campaign refits. A
missing optional package (:class:`bomix.extras.MissingExtra`) is never a fallback: it propagates (and the
policy checks for it when bound, before the first run).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.extras import MissingExtra
from bomix.history import History
from bomix.policies.base import Policy
from bomix.runs import RunSpec
from bomix.runtable import mcol, metric_dict
from bomix.space import Fidelity, Mixture

OBJ = "_objective"

#: The share of the campaign budget a law's published design may spend (see the module docstring). 1.0:
#: a law spends nothing after its design (it recommends from its fit, never buys a run to check it, and
#: does not re-run failed runs), so compute it holds back is compute no one uses, while every policy it is
#: compared with (BO, Hyperband, random) may spend the whole budget; the user's budget is the limit it must
#: respect, and that is what the share enforces.
DESIGN_BUDGET_SHARE = 1.0


class LawPolicy(Policy):
    """Base class: subclasses implement :meth:`design`, :meth:`fit_law`, :meth:`law_optimum`, :meth:`law_score`."""

    name = "law"
    min_runs = 3
    #: share of the budget the design may spend (:data:`DESIGN_BUDGET_SHARE`)
    design_share = DESIGN_BUDGET_SHARE

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"bomix.policies.{self.name}")

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        self._design: list[RunSpec] | None = None
        self._cache: dict = {}
        self._snapped: set = set()
        self._fallback: str | None = None  # why the final answer is the centre (None: it is the law's)
        self._fallbacks: Counter = Counter()  # every decision that fell back, by short reason
        self._warned: set[str] = set()
        self._truncated: str | None = None
        self._budget = float("inf")  # the campaign budget the design is sized to (set by planned)
        self._design_info: dict | None = None  # what sized_design chose and why (diagnostics: "design")
        self._quiet = False  # sized_design pricing candidates: spec() snaps without logging

    # ----- design ------------------------------------------------------------------------------
    @abstractmethod
    def design(self) -> list[RunSpec]:
        """The full prescribed design, most important runs first."""

    def design_rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, 4242, salt])

    def planned(self, history: History) -> list[RunSpec]:
        """The design, snapped to what may be proposed (pool points, answered fidelities) and cut to the
        campaign budget (logged)."""
        if self._design is None:
            self._budget = budget = float(history.budget)
            specs = self._snap(self.design()) if self.problem.proposals.is_pool else self.design()
            cost = np.cumsum([self.problem.cost(s.scale, s.steps) for s in specs])
            keep = int(np.searchsorted(cost, budget + BUDGET_EPS, side="right"))
            if keep < len(specs):
                msg = (f"{self.name} design needs {len(specs)} runs costing {cost[-1]:.4g} target-runs but the "
                       f"budget is {budget:.4g}: only the first {keep} fit")
                if keep < self.min_runs:
                    self._final_fallback("design does not fit the budget", f"{msg}, fewer than the "
                                         f"{self.min_runs} the law needs: recommending the centre")
                else:
                    self._truncated = msg
                    self.log.warning("WARNING: %s: running those", msg)
            self._design = specs[:keep]
            self._record_design(self._design, len(specs), budget)
        return self._design

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        plan = self.planned(history)
        i = history.n_dispatched
        out, left = [], budget_left
        for spec in plan[i : i + n]:
            c = self.problem.cost(spec.scale, spec.steps)
            if c > left + BUDGET_EPS:
                break
            out.append(spec)
            left -= c
        return out

    def _snap(self, specs: list[RunSpec]) -> list[RunSpec]:
        """Pool problems: each design run -> the nearest unused pool point at the nearest pool fidelity."""
        props = self.problem.proposals
        used: list[tuple[Mixture, Fidelity]] = []
        out = []
        for s in specs:
            fid = props.snap_fidelity(s.scale, s.steps)
            w = props.snap(s.mixture.weights, fid, used)
            if w is None:
                continue
            m = Mixture(w, self.space.domains)
            used.append((m, fid))
            out.append(s.with_(mixture=m, scale=fid.scale, steps=fid.steps))
        return out

    # ----- sizing the design to the budget ----------------------------------------------------------
    def proxy_scales(self) -> list[str]:
        """The ladder's scales below the target's (the smallest scale when there is none)."""
        sp = self.space
        top = sp.scale(sp.target.scale).params
        return [s.name for s in sp.scales if s.params < top] or [sp.scales[0].name]

    def fidelity_choices(self, scale: str | None, steps: int | None, scales: Sequence[str] | None = None,
                         max_steps: int | None = None) -> list[tuple[str, int]] | None:
        """Candidate ``(scale, steps)`` of a one-fidelity design for :meth:`sized_design`: a configured
        ``scale`` / ``steps`` is kept, a free scale ranges over ``scales`` (default :meth:`proxy_scales`),
        free steps over the answered steps there (``<= max_steps``). None when both are configured."""
        if scale is not None and steps is not None:
            return None
        out = []
        for sc in ([self.space.scale(scale).name] if scale is not None else list(scales or self.proxy_scales())):
            if steps is not None:
                if self.problem.proposals.allows_fidelity(Fidelity(sc, int(steps))):
                    out.append((sc, int(steps)))
                continue
            out += [(sc, t) for t in self.problem.proposals.steps_at(sc) if max_steps is None or t <= max_steps]
        return out

    def step_choices(self, scales: Sequence[str], steps: int | None,
                     max_steps: int | None = None) -> list[tuple[None, int]] | None:
        """Candidates of a design spanning ``scales`` at one common step count (each scale's runs snapped to
        its nearest answered steps): every answered step count at any of them (``<= max_steps``); None when
        the config gives ``steps``."""
        if steps is not None:
            return None
        grid = sorted({t for sc in scales for t in self.problem.proposals.steps_at(sc)})
        return [(None, t) for t in grid if max_steps is None or t <= max_steps]

    def design_cost(self, specs: Sequence[RunSpec]) -> float:
        """Target-run equivalents of ``specs`` as they will run (pool problems: at the nearest pool fidelity)."""
        props = self.problem.proposals
        total = 0.0
        for s in specs:
            fid = Fidelity(s.scale, s.steps)
            if props.is_pool and not props.allows_fidelity(fid):
                fid = props.snap_fidelity(s.scale, s.steps)
            total += self.problem.cost(fid.scale, fid.steps)
        return float(total)

    def sized_design(self, make: Callable[[str | None, int], list[RunSpec]], published: tuple[str | None, int],
                     choices: Sequence[tuple[str | None, int]] | None) -> list[RunSpec]:
        """The one home of the sizing rule (module docstring): ``make(scale, steps)`` at ``published`` when it
        costs at most ``design_share`` x the budget, else at the choice with the longest steps (then the
        largest scale) that fits, else (nothing holds every run) at the cheapest choice, which the budget
        rule of :meth:`planned` then cuts (a WARNING). ``choices`` = the fidelities the config leaves free
        (:meth:`fidelity_choices`, :meth:`step_choices`); None: the config fixes them (published, always).
        Records what was chosen and why (``design`` in :meth:`diagnostics`)."""
        budget, share = self._budget, float(self.design_share)
        sized = choices is not None and np.isfinite(budget)
        self._quiet = sized  # pricing designs that may not run: no snap warnings (the chosen one is made again)
        try:
            specs = make(*published)
            cost = self.design_cost(specs)
            priced = [(sc, int(st), self.design_cost(make(sc, st))) for sc, st in dict.fromkeys(choices)] \
                if sized and cost > share * budget + BUDGET_EPS else []
        finally:
            self._quiet = False
        at = self._fid_label(*published)
        info = {"scale": published[0], "steps": int(published[1]), "published": {
            "scale": published[0], "steps": int(published[1]), "n_runs": len(specs), "cost": cost}}
        limit = share * budget
        if choices is None:
            self._design_info = dict(info, choice="fixed", reason=f"the config fixes the design's fidelity ({at})")
            return specs
        if not np.isfinite(budget):
            self._design_info = dict(info, choice="unbudgeted", reason=f"no finite budget: the published design "
                                     f"({len(specs)} runs at {at})")
            return specs
        if cost <= limit + BUDGET_EPS:
            self._design_info = dict(info, choice="published", reason=(
                f"the published design ({len(specs)} runs at {at}) costs {cost:.4g} target-runs <= "
                f"{share:g} x the budget {budget:.4g}"))
            return make(*published)
        size = lambda sc: self.space.scale(sc).params if sc is not None else 0.0  # noqa: E731
        fit = [p for p in priced if p[2] <= limit + BUDGET_EPS]
        if fit:
            sc, st, c = max(fit, key=lambda p: (p[1], size(p[0])))
            choice = "sized"
            reason = (f"the published design ({len(specs)} runs at {at}) would cost {cost:.4g} target-runs > "
                      f"{share:g} x the budget {budget:.4g}: all {len(specs)} runs at {self._fid_label(sc, st)}, "
                      f"the longest steps (then largest scale) that fit, cost {c:.4g}")
            self.log.info("%s: %s", self.name, reason)
        else:
            sc, st, c = min(priced + [(*published, cost)], key=lambda p: (p[2], -p[1], -size(p[0])))
            choice = "cheapest"
            reason = (f"the published design ({len(specs)} runs at {at}) would cost {cost:.4g} target-runs and even "
                      f"the cheapest choice ({self._fid_label(sc, st)}) costs {c:.4g} > {share:g} x the budget "
                      f"{budget:.4g}: fewer runs, at that choice")
        self._design_info = dict(info, scale=sc, steps=int(st), choice=choice, reason=reason)
        return make(sc, st)

    def _fid_label(self, scale: str | None, steps: int) -> str:
        return f"{scale}@{int(steps)}" if scale is not None else f"{int(steps)} steps at each scale"

    def _record_design(self, specs: Sequence[RunSpec], published_runs: int, budget: float) -> None:
        """Completes ``design`` in :meth:`diagnostics` with the runs that will run (after the budget rule)."""
        info = dict(self._design_info or {"choice": "fixed", "reason": "the law's own design"})
        cost = self.design_cost(specs)
        info.update(fidelities=dict(Counter(f"{s.scale}@{s.steps}" for s in specs)), n_runs=len(specs),
                    published_runs=int(published_runs), cost=cost,
                    share_of_budget=cost / budget if np.isfinite(budget) and budget > 0 else None,
                    budget_share=float(self.design_share))
        if len(specs) < published_runs:
            info["reason"] = f"{info['reason']}; only the first {len(specs)} of {published_runs} runs fit the budget"
        self._design_info = info

    # ----- recommendation ----------------------------------------------------------------------
    def table(self, history: History, results=None) -> pd.DataFrame:
        """History table (:mod:`bomix.runtable` format) with the objective added as ``m:_objective``."""
        h = history if results is None else History(history.space, history.objective, list(results))
        t = h.table()
        if len(t):
            t[mcol(OBJ)] = history.objective.values(metric_dict(t))
        return t

    def recommend(self, history: History) -> Mixture:
        ok = history.ok
        done = history.n_dispatched >= len(self.planned(history)) and not history.pending
        if len(ok) < self.min_runs:
            if done and not self._fallback:  # (a design cut below min_runs has said so already)
                self._final_fallback("too few ok runs", f"{self.name}: only {len(ok)} of its "
                                     f"{len(self.planned(history))} design runs finished ok, fewer than the "
                                     f"{self.min_runs} the law needs: recommending the centre")
            return self.space.center()
        m = len(ok) if done else 2 ** int(np.floor(np.log2(len(ok))))
        key = tuple(r.spec.run_id for r in ok[:m])
        if key not in self._cache:  # in memory only: a resumed campaign (a new process) refits
            try:
                law = self.fit_law(self.table(history, ok[:m]))
                self._cache[key] = self._pick(law)
                if done:
                    self._fallback = None  # the final answer is the law's
            except MissingExtra:
                raise  # a missing package is the user's to install, never a fallback (bind checks it first)
            except (BomixError, ValueError, np.linalg.LinAlgError) as e:
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
                if done:  # the whole design ran and the law still cannot be fitted: a fallback, said once
                    self._final_fallback(f"law fit failed ({type(e).__name__})",
                                         f"{self.name}: the law cannot be fitted on the {m} runs of its design "
                                         f"({why}): recommending the centre")
                else:  # an intermediate decision: counted, DEBUG only (the final fit decides the answer)
                    self._fallbacks[f"partial fit failed ({type(e).__name__})"] += 1
                    self.log.debug("%s: cannot fit the law on %d runs yet (%s): recommending the centre",
                                   self.name, m, why)
                self._cache[key] = self.space.center()
        return self._cache[key]

    @property
    def recommendation_fallback(self) -> bool:
        """The latest answer is the centre instead of the law's optimum (stored with the recommendation)."""
        return self._fallback is not None

    def _final_fallback(self, short: str, reason: str) -> None:
        """The final answer is the centre: remember why (diagnostics), count it, say it once at WARNING."""
        self._fallback = reason
        if reason not in self._warned:
            self._warned.add(reason)
            self._fallbacks[short] += 1
            self.log.warning("WARNING: %s", reason)

    def diagnostics(self) -> dict:
        """``fallbacks`` / ``fallback_reasons``: decisions that recommended the centre because the law could
        not be fitted (or its design not run), by short reason (0 / {} in an ordinary campaign);
        ``fallback``: why the latest answer is the centre, when it is; ``design_truncated``: why the
        budget cut the design; ``design``: the design that runs (:meth:`sized_design`): ``scale``,
        ``steps`` (the fidelity chosen; ``scale`` is None for a design spanning scales), ``fidelities``
        (runs per ``scale@steps`` as run), ``n_runs`` / ``published_runs``, ``cost`` and
        ``share_of_budget`` (of those runs), ``budget_share`` (:data:`DESIGN_BUDGET_SHARE`), ``choice``
        (published | sized | cheapest | fixed | unbudgeted) and ``reason`` (one line)."""
        out = {"fallbacks": int(sum(self._fallbacks.values())), "fallback_reasons": dict(self._fallbacks)}
        if self._fallback:
            out["fallback"] = self._fallback
        if self._truncated:
            out["design_truncated"] = self._truncated
        if self._design_info is not None:
            out["design"] = dict(self._design_info)
        return out

    def _pick(self, law) -> Mixture:
        t = self.space.target
        W = self.problem.proposals.pool(t)
        if W is not None and len(W):
            return Mixture(W[int(np.argmin(self.law_score(law, W)))], self.space.domains)
        w = self.law_optimum(law).weights
        return Mixture(self.space.project(w, t)[0], self.space.domains)

    @abstractmethod
    def fit_law(self, table: pd.DataFrame):
        """Fit the law on the (objective-augmented) table."""

    @abstractmethod
    def law_optimum(self, law) -> Mixture:
        """The law's optimum for the target fidelity (inside the space's bounds)."""

    @abstractmethod
    def law_score(self, law, W: np.ndarray) -> np.ndarray:
        """``(n, K)`` mixtures -> ``(n,)`` predicted objective at the target (lower is better)."""

    # ----- helpers -----------------------------------------------------------------------------
    def default_scale(self, scale: str | None) -> str:
        """``scale`` (checked against the ladder), default the smallest scale."""
        return self.space.scale(self.space.scales[0].name if scale is None else scale).name

    def steps_or(self, steps: int | None, default: int) -> int:
        """``steps`` when the config gives them (then every design run must be answered as asked: see
        :meth:`spec`), else ``default`` (snapped per run to the nearest answered fidelity)."""
        self._steps_explicit = steps is not None
        return int(default if steps is None else steps)

    def largest_steps(self, scale: str, default: int) -> int:
        """The largest grid step at ``scale`` (``default`` if the grid has none there)."""
        return max(self.problem.proposals.steps_at(scale) or [default])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.space.lower, self.space.upper_at(self.space.target)

    def spec(self, w, scale: str, steps: int, tag: str) -> RunSpec:
        """A design run at the answered fidelity nearest ``scale@steps`` (an explicitly configured step
        count that is not answered is a one-line error; a default one is snapped, with a warning)."""
        want = Fidelity(scale, int(steps))
        props = self.problem.proposals
        if getattr(self, "_steps_explicit", False):
            props.space.check_fidelity(want)
        fid = want if props.space.allows(want) else props.snap_fidelity(scale, steps)
        if fid != want and not self._quiet and (want, fid) not in self._snapped:
            self._snapped.add((want, fid))
            self.log.warning("%s: the backend has no data at %s@%d; the design runs at %s@%d instead",
                             self.name, want.scale, want.steps, fid.scale, fid.steps)
        w = self.space.project(np.asarray(w, dtype=float), fid)[0]
        return RunSpec(Mixture(w, self.space.domains), fid.scale, fid.steps, tag=tag)

    def metric_map(self) -> dict[str, str]:
        """Domain -> its own loss metric: the configured ``domain_metrics`` mapping (for tables that name
        them their own way), else found by name (``loss:<domain>``, ``val/<domain>``, ...)."""
        from bomix.laws._fit import domain_metric_map

        return domain_metric_map(self.space.domains, list(self.problem.metrics or self.problem.objective.metrics),
                                 getattr(self, "_given_metrics", None))

    def domain_metrics(self) -> dict[str, str] | None:
        """Objective as per-domain metrics: domain -> metric when every domain has its own metric (e.g.
        ``loss:<domain>``), the objective is made of them and is a loss (every coefficient of its linear form
        :meth:`~bomix.objective.Objective.coefficients` >= 0); else None."""
        obj = self.problem.objective
        if any(c < 0 for c in obj.coefficients()[0].values()):
            return None
        mm = self.metric_map()
        inv = {m: d for d, m in mm.items()}
        if len(mm) == self.space.k and all(m in inv for m in obj.metrics):
            return mm
        return None
