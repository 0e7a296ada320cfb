import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import ProblemConfig, build_problem, run_campaign
from bomix.errors import BomixError
from bomix.history import History
from bomix.policies.heuristics import FixedPolicy, ProportionalPolicy, RandomPolicy, UniformPolicy


def _bound(policy, **prob):
    b = SyntheticBackend(k=4)
    p = build_problem(b, ProblemConfig(**prob))
    policy.bind(p, 0)
    return policy, History(p.space, p.objective)


def test_proportional_uses_token_counts():
    pol, h = _bound(ProportionalPolicy(), tokens={"d0": 1, "d1": 1, "d2": 2, "d3": 4})
    np.testing.assert_allclose(pol.recommend(h).weights, [0.125, 0.125, 0.25, 0.5])
    assert pol.ask(h, 10, 1) == []
    with pytest.raises(BomixError, match="token counts"):
        _bound(ProportionalPolicy())


def test_uniform_projects_onto_bounds():
    pol, h = _bound(UniformPolicy(), lower={"d0": 0.4})
    w = pol.recommend(h).weights
    assert w[0] == pytest.approx(0.4) and w[1:] == pytest.approx([0.2] * 3)


def test_fixed_policy_evaluates_once(tmp_path):
    s = run_campaign(SyntheticBackend(k=3), FixedPolicy({"d0": 0.2, "d1": 0.8}, evaluate=True), budget=5,
                     directory=tmp_path)
    assert s["n_runs"] == 1 and s["recommendation"]["d1"] == pytest.approx(0.8)
    with pytest.raises(BomixError, match="sum to"):
        _bound(FixedPolicy([0.5, 0.6, 0, 0]))


def test_random_is_deterministic_given_history():
    pol, h = _bound(RandomPolicy())
    a = pol.ask(h, 10, 3)
    b = pol.ask(h, 10, 3)
    assert [s.mixture for s in a] == [s.mixture for s in b]
    assert len({s.mixture for s in a}) == 3
    with pytest.raises(BomixError, match="alpha"):
        RandomPolicy(alpha=0)


def test_random_draws_depend_on_the_dispatch_index_not_on_how_asks_are_batched():
    """A process pool asks for 2 runs when both workers finish together, 1 + 1 when one finishes first:
    the same specs either way (the CI flake of session 18)."""
    pol, h = _bound(RandomPolicy())
    both = pol.ask(h, 10, 2)
    first = pol.ask(h, 10, 1)
    h.add_pending(first[0], 0.0)
    second = pol.ask(h, 10, 1)
    assert [s.mixture for s in both] == [first[0].mixture, second[0].mixture]
