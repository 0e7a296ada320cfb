"""Issue 23 item 4: every law sizes its published design to the budget on any grid (one rule, in base.py).

The ladder is shaped like the held-out ones: the smallest scale's longest logged run costs 0.35 target-runs, so
a law that runs its published design there (RegMix: 32 runs at 70M@97500) fits 2 of them at budget 1 and
falls back to the centre. Sized, the design moves to the longest steps (then largest scale) at which all of it
fits ``DESIGN_BUDGET_SHARE`` of the budget; only when even the cheapest choice cannot hold it does the budget
rule cut it (a WARNING, and the reason in ``policy_info["design"]``).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from bomix.cost import FlopsCost
from bomix.fidelity import FidelityGrid
from bomix.history import History
from bomix.objective import Objective
from bomix.policies.base import Problem
from bomix.policies.laws import (
    AutoScalePolicy, BiMixPolicy, DCPTPolicy, DMLPolicy, RegMixPolicy, SFTLawPolicy, ShukorPolicy,
)
from bomix.policies.laws.base import DESIGN_BUDGET_SHARE
from bomix.space import Fidelity, Scale, Space

DOMAINS = ("web", "code", "books", "wiki", "math")
#: scale -> (params, checkpoint spacing, logged runs): 13 checkpoints each; 70M@97500 = 0.35 x 1B@19500
LADDER = {"70M": (7e7, 7500, 12), "150M": (1.5e8, 3600, 6), "300M": (3e8, 1800, 6), "600M": (6e8, 900, 6),
          "1B": (1e9, 1500, 4)}


def heldout_problem() -> Problem:
    """The ladder's answered grid (13 checkpoints per scale), FLOPs cost, a mean of per-domain losses."""
    pairs = [(s, d * i) for s, (_, d, _) in LADDER.items() for i in range(1, 14)]
    sp = Space(DOMAINS, [Scale(s, p) for s, (p, _, _) in LADDER.items()], 900, 97500, target=Fidelity("1B", 19500),
               grid=FidelityGrid.from_pairs(pairs))
    metrics = tuple(f"loss:{d}" for d in DOMAINS)
    return Problem(sp, Objective.mean(list(metrics)), FlopsCost(sp), metrics=metrics)


def planned(policy, budget: float):
    prob = heldout_problem()
    policy.bind(prob, 0)
    plan = policy.planned(History(prob.space, prob.objective, budget=budget))
    return plan, policy.diagnostics()["design"], prob


def test_the_ladder_is_shaped_like_the_issue():
    prob = heldout_problem()
    assert prob.cost("70M", 97500) == pytest.approx(0.35)
    assert DESIGN_BUDGET_SHARE == 1.0


LAWS = {
    "regmix": lambda: RegMixPolicy(),
    "regmix_linear": lambda: RegMixPolicy(kind="linear"),
    "bimix": lambda: BiMixPolicy(),
    "autoscale": lambda: AutoScalePolicy(),
    "sft_law": lambda: SFTLawPolicy(),
    "shukor": lambda: ShukorPolicy(),
    "dcpt": lambda: DCPTPolicy(),
    "dml": lambda: DMLPolicy(),
}


@pytest.mark.parametrize("name", sorted(LAWS))
@pytest.mark.parametrize("budget", [1.0, 3.0])
def test_every_law_sizes_its_whole_design_into_the_budget(name, budget, caplog):
    with caplog.at_level(logging.WARNING, logger="bomix.policies"):
        plan, d, prob = planned(LAWS[name](), budget)
    cost = sum(prob.cost(s.scale, s.steps) for s in plan)
    assert cost <= DESIGN_BUDGET_SHARE * budget + 1e-9 and d["cost"] == pytest.approx(cost)
    assert d["share_of_budget"] == pytest.approx(cost / budget) and d["budget_share"] == DESIGN_BUDGET_SHARE
    assert sum(d["fidelities"].values()) == d["n_runs"] == len(plan)
    assert all(prob.space.allows(Fidelity(s.scale, s.steps)) for s in plan)  # only answered fidelities
    assert all(s.scale != "1B" for s in plan)  # proxies: the target scale is never chosen
    if name == "dml" and budget == 1.0:  # 16 mixtures x 3 scales: 1.32 target-runs at the cheapest steps
        assert d["choice"] == "cheapest" and (d["n_runs"], d["published_runs"]) == (36, 48)
        assert "fewer runs" in d["reason"] and "only the first 36 of 48" in d["reason"]
        assert "only the first 36 fit" in caplog.text  # said on the log too (WARNING)
    else:  # all of it, never a 2-run design that falls back to the centre
        assert d["n_runs"] == d["published_runs"] and d["choice"] in ("published", "sized"), d
        assert "only the first" not in caplog.text
    assert len(plan) >= LAWS[name]().min_runs


def test_regmix_goes_to_the_longest_steps_that_fit():
    plan, d, _ = planned(RegMixPolicy(), 1.0)
    assert len(plan) == 32 and {(s.scale, s.steps) for s in plan} == {("70M", 7500)}  # 32 x 0.027 = 0.86
    assert d["choice"] == "sized" and (d["scale"], d["steps"]) == ("70M", 7500)
    assert d["published"] == {"scale": "70M", "steps": 97500, "n_runs": 32, "cost": pytest.approx(11.2)}
    plan, d, _ = planned(RegMixPolicy(), 3.0)
    assert {(s.scale, s.steps) for s in plan} == {("70M", 22500)}  # 32 x 0.081 = 2.58 (30000: 3.45)


def test_a_configured_scale_is_respected_and_its_steps_sized():
    plan, d, _ = planned(RegMixPolicy(scale="150M"), 1.0)
    assert len(plan) == 32 and {(s.scale, s.steps) for s in plan} == {("150M", 3600)}
    assert d["choice"] == "sized"


def test_a_configured_fidelity_keeps_todays_behaviour(caplog):
    with caplog.at_level(logging.WARNING, logger="bomix.policies"):
        plan, d, _ = planned(RegMixPolicy(scale="70M", steps=97500), 1.0)
    assert len(plan) == 2 and d["choice"] == "fixed" and "only the first 2 of 32" in d["reason"]
    assert "recommending the centre" in caplog.text  # the fallback stays loud


def test_a_design_that_fits_runs_as_published():
    plan, d, _ = planned(RegMixPolicy(n_runs=8, scale="70M"), 3.0)  # 8 x 0.35 = 2.8
    assert {(s.scale, s.steps) for s in plan} == {("70M", 97500)} and d["choice"] == "published"
    prob = heldout_problem()
    pol = RegMixPolicy()
    pol.bind(prob, 0)
    pol.planned(History(prob.space, prob.objective))  # no finite budget: the published design
    assert pol.diagnostics()["design"]["choice"] == "unbudgeted"


def test_sizing_is_deterministic_and_keeps_the_design_mixtures():
    a, _, _ = planned(RegMixPolicy(), 1.0)
    b, _, _ = planned(RegMixPolicy(), 1.0)
    fixed, _, _ = planned(RegMixPolicy(scale="70M", steps=7500), 1.0)
    assert [s.mixture for s in a] == [s.mixture for s in b] == [s.mixture for s in fixed]


# ----- end to end: a replay simulator built from logged runs of this ladder ------------------------------------
@pytest.fixture(scope="module")
def ladder_sim(tmp_path_factory):
    """A model-mode replay simulator (objective only) of the ladder's 70M / 150M / 1B runs from the synthetic
    backend's ground truth (about 8 s to build)."""
    from bomix.backends.replay.build import build
    from bomix.backends.synthetic import SyntheticBackend
    from bomix.runs import RunSpec

    use = {s: LADDER[s] for s in ("70M", "150M", "1B")}
    truth = SyntheticBackend(k=5, scales={s: p for s, (p, _, _) in use.items()}, min_steps=300, max_steps=97500,
                             eval_every=300, noise=0.002, seed=3)
    rng = np.random.default_rng(0)
    hist = History(truth.space, truth.default_objective)
    keep = set()
    for s, (_, d, n) in use.items():
        for i, w in enumerate(rng.dirichlet(np.ones(5), n)):
            hist.results.append(truth.run(RunSpec(truth.space.mixture(w), s, 13 * d, seed=i, run_id=f"{s}-{i}")))
        keep |= {(s, d * j) for j in range(1, 14)}
    t = hist.table()
    t = t[[(a, b) in keep for a, b in zip(t["scale"], t["step"])]].reset_index(drop=True)
    t = t[[c for c in t.columns if not c.startswith("m:") or c == "m:loss:target"]]
    csv = tmp_path_factory.mktemp("ladder") / "ladder.csv"
    t.to_csv(csv, index=False)
    return build(csv, csv.parent / "sim", mode="model", objective="loss:target", metrics=["loss:target"], holdout=0,
                 workers=1)


def test_regmix_fits_all_32_runs_on_the_replay_ladder_and_says_so_in_the_summary(ladder_sim, tmp_path):
    from bomix.backends.replay import ReplayBackend
    from bomix.campaign import run_campaign

    sim = ReplayBackend(str(ladder_sim))
    assert sim.cost_model("70M", 97500) == pytest.approx(0.35)
    s = run_campaign(sim, RegMixPolicy(), budget=1.0, seed=0, directory=tmp_path / "sized")
    assert s["n_runs"] == 32 and s["budget_used"] <= 1.0
    info = json.loads((tmp_path / "sized" / "summary.json").read_text())["policy_info"]
    assert info == s["policy_info"] and "fallback" not in info and info["fallbacks"] == 0
    d = info["design"]
    assert (d["scale"], d["steps"], d["n_runs"], d["choice"]) == ("70M", 7500, 32, "sized")
    assert d["cost"] == pytest.approx(s["budget_used"]) and d["share_of_budget"] <= DESIGN_BUDGET_SHARE
    assert "the longest steps" in d["reason"]
    rec = np.array([s["recommendation"][k] for k in sim.space.domains])
    assert not np.allclose(rec, 1 / sim.space.k, atol=1e-3)  # the law's own answer, not the centre

    # what the issue saw: the published fidelity, configured, fits 2 runs and falls back to the centre (loudly)
    s = run_campaign(ReplayBackend(str(ladder_sim)), RegMixPolicy(scale="70M", steps=97500), budget=1.0, seed=0,
                     directory=tmp_path / "fixed")
    assert s["n_runs"] == 2 and "recommending the centre" in s["policy_info"]["fallback"]
    assert s["recommendation"] == pytest.approx(dict.fromkeys(sim.space.domains, 0.2))
