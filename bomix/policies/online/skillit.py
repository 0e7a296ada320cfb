"""Skill-It as a policy: learn the skill graph from short one-hot runs, then run the online rule.

Stage 1 (unless a ``graph`` is given): one short run per domain ``i`` on the (projected) one-hot
mixture at ``graph_steps``, all from the same initial model; ``drop[i, j] = max_i' L_j(i') - L_j(i)``
is how much more training on ``i`` lowered domain j's final validation loss than the least useful
domain did (Skill-It's loss drop from a common start, the start's loss cancelling out).
``A = drop / max(drop)``. The target weights ``v`` (Skill-It's target skills): the
objective's weights when it is a combination of per-domain losses, else the non-negative
least-squares fit of the objective's drop in those runs on the per-domain drops
(``obj_drop_i = sum_j v_j drop_ij``), scaled to mean 1. Stage 2: the online run with
``w proportional to exp(eta * A @ (v * sum of the last validation losses))``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.history import History
from bomix.online import ControllerConfig
from bomix.policies.online.base import OnlinePolicy
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture


class SkillItPolicy(OnlinePolicy):
    """Skill graph from one-hot runs, then online Skill-It (see module docstring).

    Args:
        graph_steps: steps of each one-hot graph run (default the space's smallest steps).
        graph: a given ``K x K`` skill graph (skips stage 1).
        kwargs: see :class:`OnlinePolicy`.
    """

    name = "skillit"

    def __init__(self, controller: Mapping[str, Any], graph_steps: int | None = None,
                 graph: Sequence[Sequence[float]] | None = None, **kw):
        super().__init__(controller, **kw)
        self.graph_steps, self.graph = graph_steps, graph

    def bind(self, problem, seed: int) -> None:
        super().bind(problem, seed)
        sp = problem.space
        self.graph_fid = sp.check_fidelity(Fidelity(self.fid.scale, int(self.graph_steps or sp.min_steps)))
        if self.graph is not None:
            A = np.asarray(self.graph, dtype=float)
            if A.shape != (sp.k, sp.k):
                raise BomixError(f"policy.graph must be {sp.k}x{sp.k}")

    def ask(self, history: History, budget_left: float, n: int) -> list[RunSpec]:
        tags = {s.tag for s in history.all_specs()}
        if self.graph is None:
            todo = [i for i in range(self.space.k) if f"graph:{i}" not in tags]
            if todo:
                specs = [RunSpec(self._one_hot(i), self.graph_fid.scale, self.graph_fid.steps, tag=f"graph:{i}")
                         for i in todo[:n]]
                return [s for s in specs if self.fits(s, budget_left)]
            done = {r.spec.tag for r in history.results}
            if any(f"graph:{i}" not in done for i in range(self.space.k)):
                return []  # wait for the graph runs
        if self.tag in tags:
            return []
        A = self.skill_graph(history)
        if A is None:
            return []
        v = self.target_weights(history)
        ctrl = ControllerConfig.from_dict({**self.controller.to_dict(), "params": {
            **self.controller.params, "graph": A.tolist(), "target": v.tolist()}})
        spec = self.online_spec(self.initial, ctrl, self.tag)
        return [spec] if self.fits(spec, budget_left) else []

    def _one_hot(self, i: int) -> Mixture:
        e = np.zeros(self.space.k)
        e[i] = 1.0
        return Mixture(self.space.project(e, self.graph_fid)[0], self.space.domains)

    def skill_graph(self, history: History) -> np.ndarray | None:
        """``(K, K)`` graph: the given one, or from the finished one-hot runs (None if one failed)."""
        if self.graph is not None:
            return np.asarray(self.graph, dtype=float)
        finals = self._graph_finals(history)
        if finals is None:
            return None
        L, _ = finals
        drop = L.max(axis=0, keepdims=True) - L
        m = drop.max()
        return drop / m if m > 0 else np.eye(self.space.k)

    def _graph_finals(self, history: History) -> tuple[np.ndarray, np.ndarray] | None:
        """``(K, K)`` final per-domain losses of the one-hot runs and ``(K,)`` their objective values."""
        by_tag = {r.spec.tag: r for r in history.results}
        names = [f"loss:{d}" for d in self.space.domains]
        L, y = np.zeros((self.space.k, self.space.k)), np.zeros(self.space.k)
        for i in range(self.space.k):
            r = by_tag.get(f"graph:{i}")
            if r is None or not r.ok or len(r.curve) < 1:
                return None
            row = r.curve.final()
            L[i] = [row.get(m, np.nan) for m in names]
            y[i] = self.problem.objective(row)
        if not np.all(np.isfinite(L)) or not np.all(np.isfinite(y)):
            return None
        return L, y

    def target_weights(self, history: History) -> np.ndarray:
        """``(K,)`` weight of each domain's loss in the objective (mean 1; see module docstring)."""
        names = [f"loss:{d}" for d in self.space.domains]
        w = self.problem.objective.coefficients()[0]  # its weights, over |reference| when normalised
        if set(w) <= set(names) and all(c >= 0 for c in w.values()):
            v = np.array([w.get(m, 0.0) for m in names])
        else:
            finals = self._graph_finals(history)
            if finals is None:
                return np.ones(self.space.k)
            L, y = finals
            from scipy.optimize import nnls

            v, _ = nnls(L.max(axis=0, keepdims=True) - L, y.max() - y)
        return v * (len(v) / v.sum()) if v.sum() > 0 else np.ones(self.space.k)
