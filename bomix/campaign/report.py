"""What a campaign reports: recommendations (true value, regret), progress, loggers and the summary."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bomix.backends.base import Backend
from bomix.constraints import true_slacks
from bomix.history import History
from bomix.mixture import Mixture
from bomix.policies.base import Policy, Problem
from bomix.runs import RunResult
from bomix.store import Store
from bomix.summary import predicted

log = logging.getLogger("bomix.campaign")


class CampaignReport:
    """What a :class:`bomix.campaign.Campaign` reports: it reads the backend's truth, asks the policy for its
    recommendation and prediction, and writes recommendations to the store and progress to the logger.

    ``opt`` (the simulator's optimum and its value, None without truth) is read once, by :meth:`start`.
    """

    def __init__(self, *, backend: Backend, policy: Policy, problem: Problem, store: Store, logger: Any,
                 budget: float, seed: int, directory: Path, progress: bool):
        self.backend, self.policy, self.problem, self.store, self.logger = backend, policy, problem, store, logger
        self.budget, self.seed, self.directory, self.progress = budget, seed, directory, progress
        self.opt: tuple[Mixture, float] | None = None
        self._best_predicted: tuple[float, float] | None = None  # (mean, sd) of the best prediction so far
        self._flagged = False

    def start(self) -> None:
        """Read (and cache in the store) the simulator's optimum: regrets are measured against it."""
        self.opt = self._optimum()

    def _optimum(self) -> tuple[Mixture, float] | None:
        if not self.backend.has_truth:
            return None
        cached = self.store.get_meta("optimum")
        if cached is not None:
            return self.problem.space.mixture(cached["mixture"]), float(cached["value"])
        if self.problem.constraints:  # regret against the best mixture that meets the constraints in the truth
            from bomix.backends.truth import constrained_optimum

            w, v = constrained_optimum(self.backend, self.problem.objective, self.problem.constraints)
            if w is None:
                log.warning("no mixture meets the outcome constraints (%s) in the simulator's truth: no regret is "
                            "reported", ", ".join(c.label for c in self.problem.constraints))
                return None
            opt = (Mixture(w, self.problem.space.domains), v)
        else:
            opt = self.backend.optimum(self.problem.objective)
        if opt is None:
            return None
        m, v = opt
        self.store.set_meta(optimum={"mixture": m.to_list(), "value": float(v)})
        return self.problem.space.mixture(m.weights), float(v)

    # ----- recommendations -------------------------------------------------------------------
    def recommend(self, history: History, run_id: str | None) -> dict:
        """Ask the policy for its recommendation, its prediction and whether it fell back; score it (simulators)
        and store it; returns it as a dict."""
        mix = self.problem.space.mixture(self.policy.recommend(history).weights)
        fallback = bool(self.policy.recommendation_fallback)
        pred = predicted(self.policy, history, mix)
        self._check_prediction(history, pred)
        pof = self.policy.feasibility(history, mix) if self.problem.constraints else None
        slacks = true_slacks(self.backend, mix, self.problem.space.target, self.problem.constraints)
        feasible = None if slacks is None else bool((slacks >= 0).all())
        tv = regret = extrapolated = None
        recipe = self.policy.recipe(history)
        if recipe is not None and self.opt is not None and self.backend.supports_recipe:
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
        if fallback and not (last is not None and last["fallback"]):  # once per stretch of fallbacks
            log.warning("the recommendation after %d runs is a numerical fallback (%s), not %s's model's: it is "
                        "stored as one, and recomputed if the campaign is resumed", len(history.results), mix,
                        self.policy.name)
        self.store.add_recommendation(len(history.results), run_id, history.spent, mix, tv, regret, extrapolated,
                                      predicted=None if pred is None else (pred["mean"], pred["sd"]),
                                      fallback=fallback, pred_feasible=pof, feasible=feasible)
        return {"mixture": mix, "true_value": tv, "regret": regret, "extrapolated": extrapolated,
                "predicted": pred, "fallback": fallback, "pred_feasible": pof, "feasible": feasible}

    def _check_prediction(self, history: History, p: dict | None) -> None:
        """Warn when the new recommendation's predicted target value (``p``: ``{"mean", "sd"}``) is worse than the
        best earlier one's by more than the two predictions' combined sd (an earlier extrapolation with a wide sd is
        no evidence against a later, sharper prediction; policies without a prediction are not checked)."""
        if p is None:
            return
        pred = (float(p["mean"]), float(p["sd"]))
        best = self._best_predicted
        worse = best is not None and pred[0] > best[0] + float(np.hypot(pred[1], best[1]))
        if worse and not self._flagged:  # once per stretch of worse recommendations
            log.warning("recommendation after %d runs is predicted worse than an earlier one: %.4g +- %.2g vs "
                        "%.4g +- %.2g", len(history.results), pred[0], pred[1], best[0], best[1])
        self._flagged = worse
        self._best_predicted = pred if best is None or pred[0] < best[0] else best

    # ----- reporting -------------------------------------------------------------------------
    def finished(self, history: History, res: RunResult, rec: dict) -> None:
        """Log a recorded run and the recommendation that followed it."""
        y = self.problem.objective.on_curve(res.curve) if res.ok else np.zeros(0)
        n = len(history.results)
        self.logger.run_finished(res, float(y[-1]) if len(y) else None, n, history.spent)
        self.logger.recommended(rec, n)

    def bar(self, spent: float):
        """A tqdm bar over the budget (None without ``progress``)."""
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        bar = tqdm(total=self.budget, desc=f"{self.policy.name}@{self.backend.name}", unit="target-run",
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} [{elapsed}<{remaining}{postfix}]",
                   dynamic_ncols=True)
        bar.update(min(spent, self.budget))
        return bar

    @staticmethod
    def postfix(history: History, rec: dict) -> str:
        s = f"runs={len(history.results)}"
        if rec.get("regret") is not None:
            s += f" regret={rec['regret']:.4g}"
        return s

    def summary(self, history: History, stop_reason: str | None, wall: float, n_retries: int) -> dict:
        """The campaign's ``summary.json``."""
        from bomix.summary import feasibility_fields, schedule_field, trust_fields, uniform_regret  # best so far, predicted, ...

        last = self.store.last_recommendation()
        space = self.problem.space
        fids = Counter(str(s.fidelity) for s in history.all_specs())
        target = str(space.target)
        reached_target = any(s.fidelity == space.target or (s.scale == space.target.scale and s.steps >= space.target.steps)
                             for s in history.all_specs())
        if history.results and not reached_target and self.policy.extrapolates:
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
            "n_retries": n_retries,
            "recommendation": dict(zip(space.domains, last["mixture"])) if last else None,
            **schedule_field(space, last["mixture"] if last else None),
            "true_value": last["true_value"] if last else None,
            "regret": last["regret"] if last else None,
            "extrapolated": last.get("extrapolated") if last else None,
            "fallback": last.get("fallback") if last else None,  # the latest is a numerical fallback
            **({"gain_over_static": -last["regret"]} if (
                self.policy.mode == "target" and last and last["regret"] is not None) else {}),
            "optimum_value": None if self.opt is None else self.opt[1],
            "uniform_regret": uniform_regret(self.backend, self.problem, self.opt),  # the baseline for regret
            "target": {"scale": space.target.scale, "steps": space.target.steps},
            "fidelities": dict(sorted(fids.items())),
            "reached_target": reached_target,
            "stop_reason": stop_reason,
            "policy_info": self.policy.diagnostics(),
            "wall_time": wall,
            "directory": str(self.directory),
        }

        out.update(trust_fields(self.policy, history, self.store, last))
        if self.problem.constraints:
            out["constraints"] = feasibility_fields(self.backend, self.policy, self.problem, last)
        if self.problem.objectives:  # a trade-off: the Pareto set, its hypervolume regret, pareto.png
            from bomix.campaign.front import pareto_fields

            recs = [r["mixture"] for r in self.store.recommendation_rows()]
            out["pareto"] = pareto_fields(self.backend, self.policy, self.problem, history, recs, self.directory)
        return out
