"""The campaign's report of a trade-off (bomix/campaign/front.py) for a policy without a model of the objectives: the
front of its target runs, scored with its recommendations on the simulator's truth, and the plot."""

from __future__ import annotations

import json

import numpy as np

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, ProblemConfig
from bomix.pareto import hv_regret, non_dominated, true_front, true_objectives
from bomix.policies.heuristics import RandomPolicy
from bomix.store import StoreReader

PROBLEM = ProblemConfig(objective={"weights": {"task:0": 0.7, "task:1": 0.3}, "maximize": ["task:0"]},
                        objectives=[{"name": "code", "maximize": "task:0"}, {"name": "web", "metric": "task:1"}],
                        preference={"code": 0.7, "web": 0.3})


def test_other_policies_are_scored_on_their_observed_front(tmp_path):
    b = SyntheticBackend(tasks=3, seed=0, noise=0.01)
    with Campaign(b, RandomPolicy(), budget=3, seed=0, directory=tmp_path, problem=PROBLEM) as camp:
        s = camp.run()
    p = s["pareto"]
    assert p["source"] == "observed" and s["n_runs"] == 3
    Y = np.array([[m["observed"][n] for n in ("code", "web")] for m in p["set"]])
    assert 1 <= len(Y) <= 3 and non_dominated(Y).all()
    assert p["n_scored"] == 3  # its three target runs (the recommendation is one of them)
    assert p["hv_regret"] > 0 and (tmp_path / "pareto.png").exists()
    # the score: the true values of the target runs' mixtures (here also every recommendation), against the true front
    with StoreReader(tmp_path) as st:
        W = np.array([r.spec.mixture.weights for r in st.load(camp.problem.space.domains)[0]])
    t = camp.problem.space.target
    _, front = true_front(b, camp.problem.objectives, camp.problem.space, t)
    assert p["hv_regret"] == hv_regret(front, true_objectives(b, camp.problem.objectives, W, t))["hv_regret"]
    assert json.loads((tmp_path / "summary.json").read_text())["pareto"]["hv_regret"] == p["hv_regret"]


def test_without_objectives_nothing_is_added(tmp_path):
    b = SyntheticBackend(tasks=3, seed=0, noise=0.01)
    with Campaign(b, RandomPolicy(), budget=2, seed=0, directory=tmp_path,
                  problem=ProblemConfig(objective=PROBLEM.objective)) as camp:
        s = camp.run()
    assert "pareto" not in s and not (tmp_path / "pareto.png").exists()
