"""mobo: a trade-off's runs by qLogNEHVI at the target and information per cost, a non-dominated Pareto set whose
true hypervolume grows past the initial design's, the preference's pick, and the campaign's report of the front."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, ProblemConfig, build_problem
from bomix.errors import BomixError
from bomix.history import History
from bomix.pareto import hv_regret, non_dominated, true_front, true_objectives
from bomix.policies.bo import MOBOPolicy
from bomix.store import StoreReader
from bomix.tradeoff import preferred

torch.set_num_threads(1)
TWO = [{"name": "code", "maximize": "task:0"}, {"name": "web", "metric": "task:1"}]
PROBLEM = ProblemConfig(objective={"weights": {"task:0": 0.7, "task:1": 0.3}, "maximize": ["task:0"]},
                        objectives=TWO, preference={"code": 0.7, "web": 0.3})
#: a small mobo: two fidelities (a proxy and the target), a light GP and search
SMALL = dict(n_init=4, fidelities=["150M@20000", "1B@20000"], gp={"maxiter": 15},
             search={"raw_samples": 32, "starts": 2, "iters": 5}, mc_samples=16, n_candidates=128, max_per_run=2)


def backend() -> SyntheticBackend:
    return SyntheticBackend(tasks=3, seed=0, noise=0.01)


def test_mobo_needs_a_trade_off():
    b = backend()
    with pytest.raises(BomixError, match="mobo needs a trade-off: declare problem.objectives"):
        MOBOPolicy(**SMALL).bind(build_problem(b, ProblemConfig()), 0)
    with pytest.raises(BomixError, match="mc_samples"):
        MOBOPolicy(mc_samples=0)
    with pytest.raises(BomixError, match="ref_margin"):
        MOBOPolicy(ref_margin=-1)
    with pytest.raises(BomixError, match="mobo: rec_shrink applies to a single-objective recommendation"):
        MOBOPolicy(rec_shrink=1.0)
    for hedge in ({"rec_topk": 8}, {"rec_centre": True}, {"rec_robust": 0.9}):  # a Pareto set's member: no hedge
        with pytest.raises(BomixError, match=f"mobo: {next(iter(hedge))} applies to a single-objective"):
            MOBOPolicy(**hedge)


def finished_campaign(b: SyntheticBackend, d, seed: int):
    """``(summary, policy, problem, history)`` of a 9-run mobo campaign on ``b`` in directory ``d``."""
    pol = MOBOPolicy(**SMALL)
    with Campaign(b, pol, budget=2.5, seed=seed, directory=d, problem=PROBLEM, max_runs=9) as camp:
        summary = camp.run()
        with StoreReader(d) as st:
            results = st.load(camp.problem.space.domains)[0]
        hist = History(camp.problem.space, camp.problem.objective, results, [], 2.5, summary["budget_used"])
        return summary, pol, camp.problem, hist


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A finished mobo campaign: its directory, summary, policy, problem and history."""
    d = tmp_path_factory.mktemp("mobo")
    b = backend()
    return d, *finished_campaign(b, d, seed=1), b


def test_mobo_proposes_runs_at_a_proxy_and_the_target(campaign):
    d, s, pol, problem, hist, b = campaign
    assert s["n_runs"] == 9
    tags = [r.spec.tag for r in hist.results]
    assert tags[:4] == ["init"] * 4 and all(t.startswith("mobo") for t in tags[4:])
    assert {str(r.spec.fidelity) for r in hist.results[:4]} == {"150M@20000"}  # the cheapest allowed
    metas = [r.spec.meta for r in hist.results[4:]]
    assert all(set(m["gp_objectives"]) == {"code", "web"} for m in metas)  # each objective GP's warm start


def test_pareto_set_is_non_dominated_and_recommended_by_preference(campaign):
    d, s, pol, problem, hist, b = campaign
    front = pol.pareto(hist)
    assert front is not None and 2 <= len(front) <= pol.max_front
    mean = np.array([[m["predicted"][n]["mean"] for n in ("code", "web")] for m in front])
    sd = np.array([[m["predicted"][n]["sd"] for n in ("code", "web")] for m in front])
    score = mean + pol.front_kappa * sd
    assert non_dominated(score).all() and (sd > 0).all()
    assert np.all(np.diff(score[:, 0]) >= 0)  # ordered along the first objective
    rec = pol.recommend(hist)
    W = np.array([[m["mixture"][dd] for dd in problem.space.domains] for m in front])
    assert np.allclose(rec.weights, W[preferred(score, problem.preference)])
    # a preference for "web" alone picks the set's best web score
    pol.problem.preference = (0.0, 1.0)
    try:
        pol._rec_cache = {}
        assert np.allclose(pol.recommend(hist).weights, W[int(np.argmin(score[:, 1]))])
    finally:
        pol.problem.preference = (0.7, 0.3)
        pol._rec_cache = {}


def test_rec_evidence_keeps_the_set_near_observed_mixtures(campaign):
    from bomix.policies.bo import evidence

    d, s, pol, problem, hist, b = campaign
    obs_w = np.array([r.spec.mixture.weights for r in hist.results])
    radius = evidence.evidence_radius(obs_w, 0.1)
    pol.rec_evidence, pol._pcache = 0.1, {}
    try:
        W = np.array([[m["mixture"][dd] for dd in problem.space.domains] for m in pol.pareto(hist)])
    finally:
        pol.rec_evidence, pol._pcache = None, {}
    assert len(W) >= 1 and evidence.inside(W, obs_w, radius).all()
    W_all = np.array([[m["mixture"][dd] for dd in problem.space.domains] for m in pol.pareto(hist)])
    assert not evidence.inside(W_all, obs_w, radius).all()  # without it the set reaches further


@pytest.mark.slow  # ~40 s: 12 small campaigns
def test_hypervolume_grows_past_the_initial_design(tmp_path):
    """Over 12 seeds the true hypervolume of mobo's Pareto set after 9 runs is above its initial design's (4 runs),
    and never near zero. One seed is not a test of this: a 9-run campaign's set can shrink (seed 1 grew by 0.06 on one
    CPU and fell by 0.14 on another, from rounding alone)."""
    b = backend()
    problem = build_problem(b, PROBLEM)
    t = problem.space.target
    _, front_Y = true_front(b, problem.objectives, problem.space, t, n=1000)
    init_hv, final_hv = [], []
    for seed in range(12):
        _, pol, _, hist = finished_campaign(b, tmp_path / f"s{seed}", seed)

        def hv_of(history):
            pol._pcache = {}
            W = np.array([[m["mixture"][dd] for dd in problem.space.domains] for m in pol.pareto(history)])
            return hv_regret(front_Y, true_objectives(b, problem.objectives, W, t))["hv"]

        init_hv.append(hv_of(History(hist.space, hist.objective, hist.results[:4], [], hist.budget)))
        final_hv.append(hv_of(hist))
    assert np.mean(final_hv) > np.mean(init_hv) + 0.1, (init_hv, final_hv)
    assert min(final_hv) > 0.3, final_hv


def test_campaign_reports_the_front(campaign):
    d, s, pol, problem, hist, b = campaign
    on_disk = json.loads((d / "summary.json").read_text())
    p = on_disk["pareto"]
    assert p == json.loads(json.dumps(s["pareto"]))
    assert p["objectives"] == ["code", "web"] and p["preference"] == {"code": 0.7, "web": 0.3}
    assert p["source"] == "model" and p["recommendation"] is not None
    assert np.allclose(list(p["set"][p["recommendation"]]["mixture"].values()), list(s["recommendation"].values()))
    for m in p["set"]:  # predicted +- sd and, on the simulator, the true values
        assert set(m["predicted"]) == {"code", "web"} and set(m["true"]) == {"code", "web"}
    assert 0 < p["hv"] < p["hv_true"] and p["hv_regret"] == pytest.approx(p["hv_true"] - p["hv"])
    assert (d / "pareto.png").stat().st_size > 10_000 and p["plot"] == str(d / "pareto.png")
    assert s["predicted"] is None  # mobo predicts the objectives, not the scalar objective


def test_same_config_and_seed_give_the_same_campaign(campaign, tmp_path):
    d, s, pol, problem, hist, b = campaign
    torch.manual_seed(999)  # another global state: must not matter
    with Campaign(backend(), MOBOPolicy(**SMALL), budget=2.5, seed=1, directory=tmp_path, problem=PROBLEM,
                  max_runs=9) as camp:
        again = camp.run()
    with StoreReader(d) as a, StoreReader(tmp_path) as b2:
        ra, rb = a.recommendation_rows(), b2.recommendation_rows()
        sa = [r.spec.to_dict() for r in a.load(problem.space.domains)[0]]
        sb = [r.spec.to_dict() for r in b2.load(problem.space.domains)[0]]
    assert [x["mixture"] for x in sa] == [x["mixture"] for x in sb]
    assert [(x["scale"], x["steps"]) for x in sa] == [(x["scale"], x["steps"]) for x in sb]
    assert [r["mixture"] for r in ra] == [r["mixture"] for r in rb]
    assert again["pareto"]["set"] == s["pareto"]["set"]
