"""mfbo under outcome constraints (bomix/policies/bo/constraints.py): a GP per constrained metric, log EI + log PoF,
recommendations predicted feasible, and the most-likely-feasible mixture (said so) when none is."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import ProblemConfig, run_campaign
from bomix.constraints import parse_constraints
from bomix.history import History
from bomix.objective import Objective
from bomix.policies.bo.constraints import feasible_score, fit_constraint_models, warm_starts
from bomix.policies.bo.mfbo import MFBOPolicy
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import RunSpec
from bomix.space import Mixture
from bomix.surrogate.gp import GPConfig
from bomix.surrogate.observations import ObservationEncoder

LIGHT_GP = {"maxiter": 10, "law": False, "level": False, "invariant": False, "cold_start": False}
SEARCH = {"raw_samples": 32, "starts": 2, "iters": 5}


def fast_mfbo(**kw) -> MFBOPolicy:
    return MFBOPolicy(gp=LIGHT_GP, search=SEARCH, n_init=6, fidelities=["1B@20000"], **kw)


def test_probability_of_feasibility_follows_the_observations():
    """Runs on d0-heavy mixtures meet ``loss:d0 <= bound``, d0-poor ones do not: the PoF says so."""
    b = SyntheticBackend(k=3, seed=0)
    t = b.space.target
    W = np.random.default_rng(0).dirichlet(np.ones(3), 12)
    L = b.metrics_at(W, t.scale, t.steps)["loss:d0"]
    bound = float(np.median(L))
    (con,) = parse_constraints([{"metric": "loss:d0", "max": bound}], b.metrics)
    hist = History(b.space, b.default_objective, [b.run(RunSpec(Mixture(w), t.scale, t.steps, seed=i))
                                                  for i, w in enumerate(W)])
    enc = ObservationEncoder(b.space)
    cm = fit_constraint_models(hist, enc, (con,), GPConfig(maxiter=30))
    assert cm is not None and fit_constraint_models(History(b.space, b.default_objective), enc, (con,), GPConfig()) \
        is None  # no model before 2 observations
    X = torch.tensor(b.space.encode(W, [t.scale] * len(W), np.full(len(W), t.steps)), dtype=torch.double)
    with torch.no_grad():
        p = cm.log_pof(X).exp().numpy()
    assert np.all(p[L < bound - 0.05] > 0.8) and np.all(p[L > bound + 0.05] < 0.2)
    assert set(cm.hypers()["gp_constraints"]) == {con.label}
    # the recommendation score: untouched where feasible enough, pushed far down where not
    lcb = lambda Wt, g: torch.zeros(Wt.shape[0], dtype=torch.double)  # noqa: E731
    def at(Wt: torch.Tensor) -> torch.Tensor:
        return torch.tensor(b.space.encode(Wt.numpy(), [t.scale] * len(Wt), np.full(len(Wt), t.steps)))

    with torch.no_grad():
        s = feasible_score(lcb, cm, at, 0.9, torch.tensor(W), np.zeros(len(W), dtype=int)).numpy()
    assert np.all(s[p >= 0.9] == 0) and np.all(s[p < 0.5] < -100)


def _constrained(b: SyntheticBackend, metric: str, bound: float) -> ProblemConfig:
    tasks = [f"task:{j}" for j in range(3)]
    maximize = [m for m in tasks if b.task_directions()[m] == "maximize"]
    return ProblemConfig(objective={"mean": tasks, "maximize": maximize}, constraints=[{"metric": metric, "max": bound}])


def test_constrained_campaign_predicts_and_meets_the_constraint(tmp_path):
    b = SyntheticBackend(k=3, seed=1, tasks=3, noise=0.005)
    t = b.space.target
    free_w, free_v = b.optimum(Objective.from_config(_constrained(b, "loss:d0", 1e9).objective))
    at_free = b.metrics_at(free_w.weights[None], t.scale, t.steps)
    # bound the loss the unconstrained optimum worsens most, at the uniform mixture's value: it binds
    uniform = b.metrics_at(b.space.center().weights[None], t.scale, t.steps)
    metric = max((f"loss:{d}" for d in b.space.domains), key=lambda m: at_free[m][0] / uniform[m][0])
    bound = float(uniform[metric][0])
    assert at_free[metric][0] > bound
    s = run_campaign(b, fast_mfbo(), budget=12, seed=0, max_runs=10, problem=_constrained(b, metric, bound),
                     directory=tmp_path)
    c = s["constraints"]
    assert c["predicted_feasible"] is True and c["feasible"] is True and c["values"][metric] <= bound
    assert s["optimum_value"] > free_v  # regret is measured against the constrained optimum
    assert s["policy_info"]["fallbacks"] == 0


def test_impossible_constraint_recommends_the_most_likely_feasible_and_says_so(tmp_path, caplog):
    b = SyntheticBackend(k=3, seed=0, tasks=3)
    with caplog.at_level(logging.WARNING, logger="bomix"):
        s = run_campaign(b, fast_mfbo(constraint_prob=0.8), budget=12, seed=0, max_runs=8,
                         problem=_constrained(b, "loss:d1", 1.0), directory=tmp_path)
    c = s["constraints"]
    assert c["predicted_feasible"] is False and c["predicted_feasibility"] < 0.8 and c["feasible"] is False
    assert s["regret"] is None and s["optimum_value"] is None  # no mixture is feasible in the truth either
    assert "recommending the most likely feasible one" in caplog.text
    assert "no mixture meets the outcome constraints" in caplog.text
    # the most likely feasible mixture is the one with the lowest loss:d1: d1-heavy
    assert max(s["recommendation"], key=s["recommendation"].get) == "d1"
    from bomix.summary_text import format_summary

    assert "the most likely feasible one is recommended" in format_summary(s)


def test_policies_without_a_constraint_model_warn_and_are_still_scored(tmp_path, caplog):
    b = SyntheticBackend(k=3, seed=0, tasks=3)
    with caplog.at_level(logging.WARNING, logger="bomix"):
        s = run_campaign(b, RandomPolicy(), budget=3, seed=0, problem=_constrained(b, "loss:d1", 1.0),
                         directory=tmp_path)
    assert "policy random ignores the problem's outcome constraints (loss:d1 <= 1)" in caplog.text
    assert s["constraints"]["predicted_feasibility"] is None and s["constraints"]["feasible"] is False


def test_warm_starts_come_from_the_latest_decision():
    b = SyntheticBackend(k=3, seed=0)
    spec = RunSpec(b.space.center(), "1B", 20000, meta={"gp_constraints": {"loss:d0 <= 3": {"a": [1.0]}}})
    hist = History(b.space, b.default_objective, pending=[RunSpec(b.space.center(), "1B", 20000), spec])
    assert warm_starts(hist) == {"loss:d0 <= 3": {"a": [1.0]}}
    assert warm_starts(History(b.space, b.default_objective)) == {}


def test_recommendation_hedges_are_refused_under_constraints_instead_of_ignored():
    from bomix.campaign import build_problem
    from bomix.errors import BomixError

    b = SyntheticBackend(k=3, seed=1, tasks=3)
    problem = build_problem(b, _constrained(b, "task:0", 3.0))
    for hedge in ({"rec_shrink": 1.0}, {"rec_topk": 8}, {"rec_centre": True}, {"rec_robust": 0.9}):
        with pytest.raises(BomixError, match=f"mfbo: {next(iter(hedge))} does not apply under outcome constraints"):
            fast_mfbo(**hedge).bind(problem, 0)
    fast_mfbo(rec_evidence=0.9).bind(problem, 0)  # kept: the constrained argmax honours the evidence radius
    fast_mfbo(rec_robust=0.9).bind(build_problem(b, ProblemConfig()), 0)  # and the hedges without constraints
