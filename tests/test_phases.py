"""The multi-phase space: configuration errors, sampling, the exact projection, schedules and naming."""

import numpy as np
import pytest
from phase_helpers import reference_projection

from bomix.errors import BomixError
from bomix.phases import Phases, PhasedSpace
from bomix.space import Scale, Space

TWO = [{"name": "pre", "fraction": 0.8}, {"name": "anneal", "fraction": 0.2}]
RANGED = [{"name": "pre", "fraction": [0.5, 0.9]}, {"name": "anneal", "fraction": [0.1, 0.5]}]
THREE = [{"name": "a", "fraction": [0.2, 0.6]}, {"name": "b", "fraction": 0.3}, {"name": "c", "fraction": [0.1, 0.5]}]


def base(k: int = 4, **kw) -> Space:
    return Space(domains=[f"d{i}" for i in range(k)], scales=[Scale("s", 1e6), Scale("l", 1e8)], min_steps=100,
                 max_steps=1000, tokens_per_step=1000.0, **kw)


def space(cfg=TWO, **kw) -> PhasedSpace:
    return PhasedSpace.of(base(), Phases.from_config(cfg)).with_constraints(**kw)


@pytest.mark.parametrize("cfg, msg", [
    ("pre", "must be a list"),
    ([{"name": "pre", "fraction": 1.0}], ">= 2 phases"),
    ([{"name": "a", "fraction": 0.5}, {"name": "a", "fraction": 0.5}], "duplicate names"),
    ([{"name": "a/b", "fraction": 0.5}, {"name": "c", "fraction": 0.5}], "without '/'"),
    ([{"name": "a", "fraction": 0.5}, {"name": "c", "frac": 0.5}], "exactly 'name' and 'fraction'"),
    ([{"name": "a", "fraction": 0.7}, {"name": "c", "fraction": 0.7}], "cannot sum to 1"),
    ([{"name": "a", "fraction": [0.6, 0.2]}, {"name": "c", "fraction": 0.5}], "lo <= hi"),
    ([{"name": "a", "fraction": "half"}, {"name": "c", "fraction": 0.5}], "a number in (0, 1)"),
    ([{"name": "a", "fraction": True}, {"name": "c", "fraction": 0.5}], "a number in (0, 1)"),
])
def test_bad_phases_are_one_line_errors(cfg, msg):
    with pytest.raises(BomixError, match=msg.replace("(", r"\(").replace(")", r"\)")) as e:
        Phases.from_config(cfg)
    assert "\n" not in str(e.value)


def test_flat_coordinates_are_phase_major_and_describe_the_schedule():
    s = space()
    assert s.k == 8 and s.domains[:2] == ("pre/d0", "pre/d1") and s.domains[4] == "anneal/d0"
    m = s.mixture({"pre": {"d0": 1.0}, "anneal": {"d3": 1.0}})
    assert np.allclose(m.weights, [0.8, 0, 0, 0, 0, 0, 0, 0.2])
    parts = s.describe_mixture(m)
    assert [p["phase"] for p in parts] == ["pre", "anneal"]
    assert parts[1]["fraction"] == pytest.approx(0.2) and parts[1]["mixture"]["d3"] == pytest.approx(1.0)
    assert s.describe()["phases"] == TWO and s.describe()["domains"] == ["d0", "d1", "d2", "d3"]
    with pytest.raises(BomixError, match="misses phase"):
        s.mixture({"pre": {"d0": 1.0}})


def test_schedule_boundaries_are_fractions_of_the_runs_own_steps():
    s = space()
    m = s.mixture({"pre": {"d0": 1.0}, "anneal": {"d1": 0.5, "d2": 0.5}})
    for steps, start in ((1000, 800), (300, 240)):
        sched = s.schedule(m, steps)
        assert sched.starts == (0, start)
        assert np.allclose(sched.mixtures[1].weights, [0, 0.5, 0.5, 0])
        assert np.allclose(sched.average(steps).weights, s.whole_run(m.weights)[0])
    assert s.schedule(m, 2).starts == (0,)  # 0.2 x 2 steps rounds to none: one phase


@pytest.mark.parametrize("cfg", [TWO, RANGED, THREE])
@pytest.mark.parametrize("bounds", [{}, {"upper": {"d0": 0.1}, "lower": {"d1": 0.2}}])
def test_sample_and_project_stay_inside_and_projection_is_euclidean(cfg, bounds):
    s = space(cfg, **bounds)
    rng = np.random.default_rng(0)
    X = s.sample(300, rng, 0.5)
    assert s.feasible(X).all()
    f = s.fractions(X)
    ranged = s.phases.hi > s.phases.lo
    assert np.all((f.max(0) - f.min(0))[ranged] > 0.1)  # searched fractions spread over their ranges
    assert np.allclose(f[:, ~ranged], s.phases.lo[~ranged])
    y = rng.normal(size=s.k)
    p = s.project(y[None])[0]
    assert s.feasible(p).all()
    ref = reference_projection(s, y, np.full(s.k, 1 / s.k))
    assert np.abs(p - ref).max() < 1e-5


def test_whole_run_bounds_and_cap_count_over_the_run_not_per_phase():
    # d0 may have at most 10% of the run: a 20% anneal phase can still be half d0
    s = space(upper={"d0": 0.1})
    m = s.mixture({"pre": {"d1": 1.0}, "anneal": {"d0": 0.5, "d1": 0.5}})
    s.check_mixture(m)
    with pytest.raises(BomixError, match="not a schedule of the space"):
        s.check_mixture(s.mixture({"pre": {"d0": 0.5, "d1": 0.5}, "anneal": {"d1": 1.0}}))
    # the repetition cap: d3 has 150 tokens, 1 epoch; a run of 1000 steps x 1000 tokens may give it 0.015%
    tokens = {"d0": 1e9, "d1": 1e9, "d2": 1e9, "d3": 150e3}
    c = space(tokens=tokens, max_epochs=1.0)
    from bomix.fidelity import Fidelity
    x = c.sample(50, np.random.default_rng(1), 1.0, Fidelity("l", 1000))
    assert np.all(c.whole_run(x)[:, 3] <= 0.15 + 1e-9)


def test_center_is_uniform_per_phase_and_tokens_give_a_proportional_schedule():
    s = space(RANGED)
    w = s.phase_mixtures(s.center().weights)[0]
    assert np.allclose(w, 0.25) and s.fractions(s.center().weights)[0] == pytest.approx([0.7, 0.3])
    t = space(TWO, tokens={"d0": 3.0, "d1": 1.0, "d2": 2.0, "d3": 2.0})
    prop = t.project(t.tokens / t.tokens.sum())[0]
    assert np.allclose(t.phase_mixtures(prop)[0], [[0.375, 0.125, 0.25, 0.25]] * 2)


def test_phases_cannot_be_declared_twice():
    s = space()
    with pytest.raises(BomixError, match="already has phases"):
        PhasedSpace.of(s, s.phases)
