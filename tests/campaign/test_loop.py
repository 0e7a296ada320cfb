import json

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, ProblemConfig, run_campaign
from bomix.errors import BomixError
from bomix.executors.inline import InlineExecutor
from bomix.history import History
from bomix.policies.base import Policy
from bomix.policies.heuristics import RandomPolicy, UniformPolicy
from bomix.runs import RunSpec
from bomix.space import Fidelity
from bomix.store import Store


def test_random_campaign_regret_falls_with_budget(tmp_path):
    regrets = {}
    for budget in (2, 8, 32):
        finals = [run_campaign(SyntheticBackend(k=4, noise=0.0), RandomPolicy(), budget=budget, seed=s,
                               directory=tmp_path / f"b{budget}s{s}")["regret"] for s in range(5)]
        regrets[budget] = np.median(finals)
    assert regrets[32] < regrets[8] < regrets[2]


def test_summary_and_store_contents(tmp_path):
    s = run_campaign(SyntheticBackend(k=4, noise=0.01), RandomPolicy(), budget=3.5, seed=0, directory=tmp_path)
    assert s["n_runs"] == 3 and s["budget_used"] == pytest.approx(3.0)  # a 4th full run would overshoot
    assert s["stop_reason"] == "policy"
    assert set(s["recommendation"]) == {"d0", "d1", "d2", "d3"}
    assert s["regret"] >= 0 and s["true_value"] is not None
    assert json.loads((tmp_path / "summary.json").read_text())["n_runs"] == 3
    tabs = Store(tmp_path).to_pandas()
    assert len(tabs["recommendations"]) == 3
    assert (tabs["runs"]["status"] == "ok").all()
    assert tabs["recommendations"]["budget_used"].tolist() == pytest.approx([1.0, 2.0, 3.0])


def test_uniform_spends_nothing(tmp_path):
    s = run_campaign(SyntheticBackend(k=4), UniformPolicy(), budget=5, directory=tmp_path)
    assert s["n_runs"] == 0 and s["budget_used"] == 0
    assert s["recommendation"] == {f"d{i}": 0.25 for i in range(4)}
    assert s["regret"] > 0


def test_budget_rule_never_overshoots(tmp_path):
    class Greedy(Policy):
        name = "greedy"

        def ask(self, history, budget_left, n):  # ignores the budget on purpose
            t = self.space.target
            return [RunSpec(self.space.center(), t.scale, t.steps)] * n

        def recommend(self, history):
            return self.space.center()

    s = run_campaign(SyntheticBackend(k=3), Greedy(), budget=2.5, directory=tmp_path, batch_size=2)
    assert s["budget_used"] <= 2.5 and s["n_runs"] == 2


def test_pending_runs_visible_to_policy_and_out_of_order(tmp_path):
    seen = []

    class Spy(RandomPolicy):
        def ask(self, history, budget_left, n):
            seen.append((len(history.pending), n))
            return super().ask(history, budget_left, n)

    s = run_campaign(SyntheticBackend(k=3), Spy(), budget=6, directory=tmp_path, batch_size=3,
                     executor=InlineExecutor(capacity=3))
    assert s["n_runs"] == 6
    assert seen[0] == (0, 3) and any(p > 0 for p, _ in seen[1:])


def test_failed_runs_do_not_stop_the_campaign(tmp_path):
    s = run_campaign(SyntheticBackend(k=3, fail_prob=0.4, seed=1), RandomPolicy(), budget=10, directory=tmp_path)
    assert s["n_runs"] == 10 and 0 < s["n_failed"] < 10


def test_resume_with_more_budget_and_config_check(tmp_path):
    b = SyntheticBackend(k=3)
    run_campaign(b, RandomPolicy(), budget=3, seed=0, directory=tmp_path)
    s = run_campaign(b, RandomPolicy(), budget=5, seed=0, directory=tmp_path)
    assert s["n_runs"] == 5
    ref = run_campaign(b, RandomPolicy(), budget=5, seed=0, directory=tmp_path / "ref")
    assert ref["recommendation"] == s["recommendation"]
    with pytest.raises(BomixError, match="different config"):
        run_campaign(b, RandomPolicy(), budget=5, seed=1, directory=tmp_path)
    s = run_campaign(b, RandomPolicy(), budget=6, seed=1, directory=tmp_path, force=True)
    assert s["n_runs"] == 6


def test_pending_runs_rerun_after_crash(tmp_path):
    b = SyntheticBackend(k=3)
    camp = Campaign(b, RandomPolicy(), budget=4, seed=0, directory=tmp_path)
    # simulate a crash right after two specs were written but before they finished
    h = History(camp.problem.space, camp.problem.objective)
    specs = camp.policy.ask(h, 4, 2)
    camp.store.add_pending([(s.with_(run_id=f"r{i:05d}", seed=i), 1.0) for i, s in enumerate(specs)])
    camp.close()
    s = run_campaign(b, RandomPolicy(), budget=4, seed=0, directory=tmp_path)
    assert s["n_runs"] == 4
    runs = Store(tmp_path).to_pandas()["runs"]
    assert runs["run_id"].tolist() == [f"r{i:05d}" for i in range(4)] and (runs["status"] == "ok").all()


def test_stop_regret_and_max_runs(tmp_path):
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=50, directory=tmp_path / "a", max_runs=4)
    assert s["n_runs"] == 4 and s["stop_reason"] == "max_runs"
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=50, directory=tmp_path / "b", stop_regret=10.0)
    assert s["n_runs"] == 1 and s["stop_reason"] == "regret"


def test_problem_constraints_reach_the_policy(tmp_path):
    prob = ProblemConfig(objective={"mean": ["loss:d0", "loss:d1"]}, lower={"d0": 0.3}, upper={"d2": 0.1})
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=5, directory=tmp_path, problem=prob)
    runs = Store(tmp_path).to_pandas()["runs"]
    assert (runs["w:d0"] >= 0.3 - 1e-9).all() and (runs["w:d2"] <= 0.1 + 1e-9).all()
    assert s["objective"] == "wmean(loss:d0,loss:d1)"


def test_continuation_validated_and_charged_for_extra_steps(tmp_path):
    class Continue(Policy):
        name = "continue"

        def ask(self, history, budget_left, n):
            m = self.space.center()
            if history.n_dispatched == 0:
                return [RunSpec(m, "1B", 10000)]
            if history.n_dispatched == 1 and not history.pending:
                return [RunSpec(m, "1B", 20000, resume_from=history.results[0].spec.run_id)]
            return []

        def recommend(self, history):
            return self.space.center()

    s = run_campaign(SyntheticBackend(k=3), Continue(), budget=5, directory=tmp_path)
    assert s["n_runs"] == 2 and s["budget_used"] == pytest.approx(1.0)
    runs = Store(tmp_path).to_pandas()["runs"]
    assert runs["resume_from"].isna().tolist() == [True, False] and runs["resume_from"][1] == "r00000"
    assert runs["seed"].tolist()[0] == runs["seed"].tolist()[1]


def test_bad_budget(tmp_path):
    with pytest.raises(BomixError, match="budget"):
        Campaign(SyntheticBackend(k=3), RandomPolicy(), budget=0, directory=tmp_path)


def test_infeasible_proposal_is_rejected(tmp_path):
    class Bad(UniformPolicy):
        def ask(self, history, budget_left, n):
            return [RunSpec(self.space.mixture([1.0, 0.0, 0.0]), "1B", 20000)]

    with pytest.raises(BomixError, match="violates"):
        run_campaign(SyntheticBackend(k=3), Bad(), budget=2, directory=tmp_path,
                     problem=ProblemConfig(upper={"d0": 0.5}))


def test_a_recommendation_predicted_worse_than_an_earlier_one_is_logged(caplog):
    import logging

    from bomix.backends.synthetic import SyntheticBackend
    from bomix.campaign import run_campaign
    from bomix.policies.heuristics import RandomPolicy

    class Scripted(RandomPolicy):
        """Predicts 1.0, then 2.0 and 2.1 (worse by far more than their sd: one warning), 1.005 (within its sd), 3.0."""

        values = {1: (1.0, 0.01), 2: (2.0, 0.01), 3: (2.1, 0.01), 4: (1.005, 0.01), 5: (3.0, 0.01)}

        def predict(self, history, mixture):
            return self.values[len(history.results)]

    with caplog.at_level(logging.WARNING, logger="bomix.campaign"):
        run_campaign(SyntheticBackend(k=3, seed=0), Scripted(scale="20M", steps=500), budget=1.0, seed=0,
                     max_runs=5)
    hits = [r for r in caplog.records if "predicted worse" in r.getMessage()]
    assert len(hits) == 2 and "2 +- 0.01 vs 1 +- 0.01" in hits[0].getMessage()
    assert "3 +- 0.01 vs 1 +- 0.01" in hits[1].getMessage()
    caplog.clear()

    class Wide(Scripted):
        """An extrapolation 1.0 +- 2 first (no run at the target), then 1.5 +- 0.01: no evidence of worse; 5.0 is."""

        values = {1: (1.0, 2.0), 2: (1.5, 0.01), 3: (1.5, 0.01), 4: (5.0, 0.01), 5: (5.0, 0.01)}

    with caplog.at_level(logging.WARNING, logger="bomix.campaign"):
        run_campaign(SyntheticBackend(k=3, seed=0), Wide(scale="20M", steps=500), budget=1.0, seed=0, max_runs=5)
    hits = [r for r in caplog.records if "predicted worse" in r.getMessage()]
    assert len(hits) == 1 and "5 +- 0.01 vs 1 +- 2" in hits[0].getMessage()


def test_an_option_added_with_a_null_default_does_not_orphan_a_campaign(tmp_path):
    """A config stored before a component grew a null-defaulted option resumes; a real change is refused."""
    b = SyntheticBackend(k=3)
    old = {"seed": 0, "policy": {"name": "random", "alpha": 1.0}}
    run_campaign(b, RandomPolicy(), budget=2, seed=0, directory=tmp_path, config=old)
    grown = {"seed": 0, "policy": {"name": "random", "alpha": 1, "new_option": None}, "problem": {"trainer": None}}
    assert run_campaign(b, RandomPolicy(), budget=3, seed=0, directory=tmp_path, config=grown)["n_runs"] == 3
    with pytest.raises(BomixError, match=r"different config \(policy.alpha: 1.0 -> 2.0\)"):
        run_campaign(b, RandomPolicy(), budget=3, seed=0, directory=tmp_path, config={**old, "policy": {"name": "random", "alpha": 2.0}})


def test_a_run_cap_inside_the_initial_design_is_warned_about(tmp_path, caplog):
    """mfbo's budget-sized design on the synthetic backend at budget 3 is 120 runs at 20M@500: a cap of 120 (as a
    benchmark once set) or less makes no decision, and the campaign says so at its start; a larger cap does not."""
    import logging

    from bomix.policies.bo import MFBOPolicy

    with caplog.at_level(logging.WARNING, logger="bomix.campaign"):
        s = run_campaign(SyntheticBackend(k=5, seed=0), MFBOPolicy(), budget=3.0, seed=0, directory=tmp_path / "a",
                         max_runs=2)
    hits = [r.getMessage() for r in caplog.records if "initial design" in r.getMessage()]
    assert s["stop_reason"] == "max_runs"
    assert hits == ["max_runs=2 stops the campaign inside mfbo's initial design of 120 runs: it will make no decision "
                    "and leave most of the budget unspent; set max_runs above 120 (or a smaller policy.n_init)"]
    caplog.clear()

    class Designed(RandomPolicy):
        def n_initial(self, history):
            return 3

    with caplog.at_level(logging.WARNING, logger="bomix.campaign"):
        run_campaign(SyntheticBackend(k=3), Designed(), budget=5, directory=tmp_path / "b", max_runs=4)
        run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=5, directory=tmp_path / "c", max_runs=1)
    assert not [r for r in caplog.records if "initial design" in r.getMessage()]
