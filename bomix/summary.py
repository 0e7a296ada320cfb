"""What a summary.json says beyond the latest recommendation: best so far, predictions, policy facts.

A recommendation can get worse late in a campaign (a model refit moves its argmin); the summary
therefore also reports the best run observed at the target fidelity, the best recommendation so far
(simulators: by its true value, an oracle-only fact), the policy's predicted objective of the latest
recommendation (mean +- sd, where the policy has a model), how many recommendations were numerical fallbacks
and the policy's diagnostics.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np

from bomix.history import History
from bomix.mixture import Mixture

log = logging.getLogger("bomix.summary")

#: a latest regret this much above the best recommendation's (absolute) is logged as a warning
REGRET_JUMP = 0.01


def best_observed(history: History) -> dict | None:
    """The best objective value observed at the target fidelity (checkpoints of longer runs count)."""
    t = history.space.target
    obs = history.at_fidelity(t)
    if len(obs) == 0:
        return None
    i = int(np.argmin(obs.y))
    return {"run_id": str(obs.run_ids[i]), "mixture": dict(zip(history.space.domains, obs.w[i].tolist())),
            "value": float(obs.y[i]), "fidelity": {"scale": t.scale, "steps": int(t.steps)}}


def schedule_field(space, weights) -> dict:
    """``{"schedule": [{phase, fraction, mixture}]}`` of a recommendation on a multi-phase space (:mod:`bomix.phases`),
    else ``{}``."""
    if getattr(space, "phases", None) is None or weights is None:
        return {}
    w = list(weights.values()) if isinstance(weights, dict) else list(weights)
    return {"schedule": space.describe_mixture(Mixture(w, space.domains))}


def best_recommendation(store, domains) -> dict | None:
    """The recommendation with the lowest true value so far, mixture by domain (None without true values)."""
    best = store.best_recommendation()
    if best is not None:
        best["mixture"] = dict(zip(domains, best["mixture"]))
    return best


def predicted(policy, history: History, mixture: Mixture) -> dict | None:
    """``{"mean", "sd"}`` of the policy's predicted target objective, or None (no model / not finite)."""
    predict = getattr(policy, "predict", None)
    if predict is None:
        return None
    out = predict(history, mixture)
    if out is None:
        return None
    mean, sd = float(out[0]), float(out[1])
    if not (math.isfinite(mean) and math.isfinite(sd)):
        return None
    return {"mean": mean, "sd": sd}


def uniform_regret(backend, problem, opt: tuple[Mixture, float] | None) -> float | None:
    """Uniform weights' regret at the target, the baseline a recommendation's regret is read against.

    The same measure as a static recommendation's regret (:meth:`bomix.campaign.report.CampaignReport.recommend`):
    the backend's true value of the uniform mixture (``space.center()``, projected onto the bounds, as
    ``policy=uniform`` recommends) minus the optimum's, clipped at 0. None without truth (real runs)."""
    if opt is None or not backend.has_truth:
        return None
    tv = backend.true_value(problem.space.center(), problem.space.target, problem.objective)
    if tv is None or not math.isfinite(float(tv)):
        return None
    return max(float(tv) - float(opt[1]), 0.0)


def policy_info(policy) -> dict:
    """The policy's JSON-able diagnostics (``{}`` when it has none)."""
    diag = getattr(policy, "diagnostics", None)
    info = diag() if diag is not None else {}
    return json.loads(json.dumps(info, default=str))


def trust_fields(policy, history: History, store, latest: dict | None) -> dict:
    """The summary keys of this module: ``best_observed``, ``best_recommendation``, ``predicted``, ``policy_info``
    and ``n_fallback_recommendations`` (stored recommendations that were numerical fallbacks, replaced ones too)."""
    space = history.space
    pred = None
    if latest is not None:
        pred = predicted(policy, history, space.mixture(latest["mixture"]))
    best_rec = best_recommendation(store, space.domains)
    if (latest is not None and best_rec is not None and latest.get("regret") is not None
            and best_rec["regret"] is not None and latest["regret"] > best_rec["regret"] + REGRET_JUMP):
        log.warning("the latest recommendation's regret %.4g is worse than the best so far %.4g (after %d runs)",
                    latest["regret"], best_rec["regret"], best_rec["n_finished"])
    return {"best_observed": best_observed(history), "best_recommendation": best_rec, "predicted": pred,
            "policy_info": policy_info(policy), "n_fallback_recommendations": store.n_fallback_recommendations()}


def feasibility_fields(backend, policy, problem, latest: dict | None) -> dict:
    """summary.json's ``constraints`` (problems with outcome constraints): the ``bounds``; the policy's probability
    that the latest recommendation meets them (``predicted_feasibility``, None without a model of them) and whether
    it reaches the policy's ``constraint_prob`` (``predicted_feasible``: False = no mixture was predicted feasible
    enough, so the most-likely-feasible one was recommended); on a simulator whether it meets them in the truth
    (``feasible``) and its true ``values`` of the constrained metrics (None without truth)."""
    from bomix.objective import Objective

    p = None if latest is None else latest.get("pred_feasible")
    need = getattr(policy, "constraint_prob", None)
    out = {"bounds": [c.label for c in problem.constraints], "predicted_feasibility": p,
           "predicted_feasible": None if p is None or need is None else bool(p >= need),
           "feasible": None if latest is None else latest.get("feasible"), "values": None}
    if latest is not None and backend is not None and backend.has_truth:
        mix = problem.space.mixture(latest["mixture"])
        out["values"] = {c.metric: float(backend.true_value(mix, problem.space.target, Objective.metric(c.metric)))
                         for c in problem.constraints}
    return out


def study_summary(study, history: History, rec: dict) -> dict:
    """summary.json of an ask/tell study (the same keys as a campaign's where they apply)."""
    space = history.space
    latest = {"mixture": list(rec["mixture"].values()), "regret": None, "pred_feasible": rec.get("pred_feasible")}
    out = {
        "policy": study.policy.name,
        "backend": "study",
        "objective": study.problem.objective.name,
        "seed": study.config.seed,
        "budget": history.budget,
        "budget_used": history.spent,
        "n_runs": len(history.results),
        "n_ok": len(history.ok),
        "n_failed": sum(not r.ok for r in history.results),
        "n_pending": len(history.pending),
        "recommendation": rec["mixture"],
        **schedule_field(space, rec["mixture"]),
        "target": {"scale": space.target.scale, "steps": space.target.steps},
        "directory": str(study.directory),
    }
    out.update(trust_fields(study.policy, history, study.store, latest))
    if study.problem.constraints:
        out["constraints"] = feasibility_fields(None, study.policy, study.problem, latest)
    if "pareto" in rec:
        out["pareto"] = rec["pareto"]
    return out


def write_summary(directory, summary: dict[str, Any]) -> None:
    """Write ``directory/summary.json`` atomically (readers never see half a file)."""
    from bomix.layout import CampaignLayout, write_json_atomic

    write_json_atomic(CampaignLayout(directory).summary, summary)
