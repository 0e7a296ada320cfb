"""Shared machinery of the law policies: a prescribed design, the budget rule, pools, refits.

A law policy spends its budget on a fixed design of runs (a function of the problem and the seed
only, so a resumed campaign rebuilds it), fits its law on the history and recommends the law's
optimum for the target fidelity.

Budget rule: when the whole design costs more than the campaign budget, the policy keeps the
longest prefix of its (priority-ordered) design that fits and logs a warning on
``bomix.policies.<name>``.

Refits: the law is fitted on the first ``2**j`` finished runs (the largest power of two) until the
design is complete, then on all of them: a pure function of the history, and cheap enough to call
after every result.
"""

from __future__ import annotations

import logging
from abc import abstractmethod

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.history import History
from bomix.policies.base import Policy
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture

OBJ = "_objective"


class LawPolicy(Policy):
    """Base class: subclasses implement :meth:`design`, :meth:`fit_law`, :meth:`law_optimum`, :meth:`law_score`."""

    name = "law"
    min_runs = 3

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"bomix.policies.{self.name}")

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        self._design: list[RunSpec] | None = None
        self._cache: dict = {}

    # ----- design ------------------------------------------------------------------------------
    @abstractmethod
    def design(self) -> list[RunSpec]:
        """The full prescribed design, most important runs first."""

    def design_rng(self, salt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, 4242, salt])

    def planned(self, history: History) -> list[RunSpec]:
        """The design, snapped to the pool (if any) and cut to the campaign budget (logged)."""
        if self._design is None:
            specs = self._snap(self.design()) if self.problem.candidates is not None else self.design()
            cost = np.cumsum([self.problem.cost(s.scale, s.steps) for s in specs])
            budget = history.budget
            keep = int(np.searchsorted(cost, budget + 1e-12, side="right"))
            if keep < len(specs):
                self.log.warning(
                    "%s design needs %d runs costing %.4g target-runs but the budget is %.4g: "
                    "using the first %d runs that fit", self.name, len(specs), cost[-1], budget, keep)
            self._design = specs[:keep]
        return self._design

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        plan = self.planned(history)
        i = history.n_dispatched
        out, left = [], budget_left
        for spec in plan[i : i + n]:
            c = self.problem.cost(spec.scale, spec.steps)
            if c > left + 1e-12:
                break
            out.append(spec)
            left -= c
        return out

    def _snap(self, specs: list[RunSpec]) -> list[RunSpec]:
        """Pool problems: each design run -> the nearest unused candidate at the nearest fidelity."""
        sp = self.space
        cands = self.problem.candidates
        fids = sorted({f for _, f in cands})
        coords = np.array([[sp.scale_coord(f.scale), sp.step_coord(f.steps)] for f in fids])
        used: set = set()
        out = []
        for s in specs:
            c = np.array([sp.scale_coord(s.scale), sp.step_coord(s.steps)])
            fid = fids[int(np.argmin(np.abs(coords - c).sum(1)))]
            pool = [(m, f) for m, f in cands if f == fid and (m, f) not in used]
            if not pool:
                continue
            d = [np.abs(m.weights - s.mixture.weights).sum() for m, _ in pool]
            m, f = pool[int(np.argmin(d))]
            used.add((m, f))
            out.append(s.with_(mixture=Mixture(m.weights, sp.domains), scale=f.scale, steps=f.steps))
        return out

    # ----- recommendation ----------------------------------------------------------------------
    def table(self, history: History, results=None) -> pd.DataFrame:
        """History table (long format) with the objective added as ``m:_objective``."""
        h = history if results is None else History(history.space, history.objective, list(results))
        t = h.table()
        if len(t):
            metrics = {c[2:]: t[c].to_numpy() for c in t.columns if c.startswith("m:")}
            t["m:" + OBJ] = history.objective.values(metrics)
        return t

    def recommend(self, history: History) -> Mixture:
        ok = history.ok
        if len(ok) < self.min_runs:
            return self.space.center()
        done = history.n_dispatched >= len(self.planned(history)) and not history.pending
        m = len(ok) if done else 2 ** int(np.floor(np.log2(len(ok))))
        key = tuple(r.spec.run_id for r in ok[:m])
        if key not in self._cache:
            try:
                law = self.fit_law(self.table(history, ok[:m]))
                self._cache[key] = self._pick(law)
            except (BomixError, ValueError, np.linalg.LinAlgError) as e:
                self.log.info("%s: cannot fit the law on %d runs yet (%s): recommending the centre",
                              self.name, m, e)
                self._cache[key] = self.space.center()
        return self._cache[key]

    def _pick(self, law) -> Mixture:
        t = self.space.target
        if self.problem.candidates is not None:
            pool = [m for m, f in self.problem.candidates if f == t]
            if pool:
                W = np.array([m.weights for m in pool])
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
        return self.space.check_fidelity(Fidelity(self.space.scales[0].name if scale is None else scale, self.space.min_steps)).scale

    def steps_or(self, steps: int | None, default: int) -> int:
        s = int(default if steps is None else steps)
        self.space.check_fidelity(Fidelity(self.space.target.scale, s))
        return s

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.space.lower, self.space.upper_at(self.space.target)

    def spec(self, w, scale: str, steps: int, tag: str) -> RunSpec:
        w = self.space.project(np.asarray(w, dtype=float), Fidelity(scale, int(steps)))[0]
        return RunSpec(Mixture(w, self.space.domains), scale, int(steps), tag=tag)

    def domain_metrics(self) -> dict[str, str] | None:
        """Objective as per-domain metrics: domain -> metric when every domain has its own metric (e.g.
        ``loss:<domain>``), the objective is made of them and is a loss (sign +); else None."""
        from bomix.laws._fit import domain_metric_map

        obj = self.problem.objective
        if obj.sign < 0:
            return None
        mm = domain_metric_map(self.space.domains, list(self.problem.metrics or obj.metrics))
        inv = {m: d for d, m in mm.items()}
        if len(mm) == self.space.k and all(m in inv for m in obj.metrics):
            return mm
        return None
