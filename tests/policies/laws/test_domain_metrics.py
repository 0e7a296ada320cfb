"""Per-domain laws find each domain's own loss by name (loss:<domain>) or by a configured mapping."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.policies.base import Problem
from bomix.policies.laws import BiMixPolicy, DMLPolicy
from bomix.space import Scale, Space


def _problem(metrics):
    sp = Space(("web", "code", "books"), [Scale("s", 1e6), Scale("l", 1e8)], 100, 1000)
    return Problem(sp, Objective.mean(list(metrics)), FlopsCost(sp), metrics=tuple(metrics))


def test_bimix_needs_a_loss_per_domain_and_says_how_to_map_them():
    names = ("eval_web_ppl", "eval_code_ppl", "eval_books_ppl")  # not loss:<domain>
    with pytest.raises(BomixError, match="domain_metrics") as exc:
        BiMixPolicy().bind(_problem(names), 0)
    assert "\n" not in str(exc.value)
    pol = BiMixPolicy(domain_metrics=dict(zip(("web", "code", "books"), names)))
    pol.bind(_problem(names), 0)
    assert pol._metrics == dict(zip(("web", "code", "books"), names))
    np.testing.assert_allclose(pol._weights, [1 / 3] * 3)  # the objective is their mean
    with pytest.raises(BomixError, match="unknown domain"):
        BiMixPolicy(domain_metrics={"nope": names[0]}).bind(_problem(names), 0)
    with pytest.raises(BomixError, match="unknown metric"):
        BiMixPolicy(domain_metrics={"web": "nope"}).bind(_problem(names), 0)


def test_loss_colon_domain_is_found_without_a_mapping():
    pol = DMLPolicy()
    pol.bind(_problem(("loss:web", "loss:code", "loss:books")), 0)
    assert pol.metric_map() == {"web": "loss:web", "code": "loss:code", "books": "loss:books"}


def test_a_normalised_objective_weights_each_domain_loss_by_its_linear_coefficient():
    """``(L_i - ref_i) / |ref_i|`` weighs L_i by w_i / |ref_i| (Objective.coefficients); maximising a loss is no
    per-domain loss objective."""
    metrics = ("loss:web", "loss:code", "loss:books")
    sp = Space(("web", "code", "books"), [Scale("s", 1e6), Scale("l", 1e8)], 100, 1000)
    obj = Objective.from_config({"mean": list(metrics), "reference": {"loss:web": 2.0, "loss:code": 1.0,
                                                                       "loss:books": 4.0}})
    pol = BiMixPolicy()
    pol.bind(Problem(sp, obj, FlopsCost(sp), metrics=metrics), 0)
    np.testing.assert_allclose(pol._weights, [1 / 6, 1 / 3, 1 / 12])
    odd = Objective.from_config({"mean": list(metrics), "maximize": ["loss:web"]})
    pol = BiMixPolicy()
    pol.bind(Problem(sp, odd, FlopsCost(sp), metrics=metrics), 0)
    assert pol.domain_metrics() is None
