"""The synthetic backend's opt-in annealing law (bomix/backends/synthetic_phases.py): phases that matter."""

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.backends.synthetic_phases import AnnealConfig, kernel_shares, phase_bounds
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import MixtureSchedule, RunSpec
from bomix.space import Fidelity, Mixture

TWO = np.array([0.8, 0.2])


def _tv(a, b):
    return 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())


def _schedule(W, fractions, steps):
    """The phase adapter's MixtureSchedule: starts rint(cumsum(f) * S), empty phases dropped."""
    starts, ends = phase_bounds(np.asarray(fractions, dtype=float)[None], steps)
    keep = ends[0] > starts[0]
    return MixtureSchedule(tuple(int(s) for s in starts[0][keep]), tuple(Mixture(w) for w in np.asarray(W)[keep]))


# values computed before the annealing law existed (same configurations as in /tmp/pin_a.py of the report)
PINNED = [
    (dict(k=4, seed=0), [3.964611046590476, 8.043207635144205, 3.1744667229272108]),
    (dict(k=6, seed=3, rho=0.9995, tasks=3), [4.305131061618982, 3.523547513862723, 1.6469395507947817,
                                              4.098193474797557]),
    (dict(k=5, seed=1, noise=0.02, hetero=1.0, tasks=4), [4.285273384871815, 4.200157474490304,
                                                          1.7501334896848533, 3.462212626661426]),
]


def _pinned_values(b: SyntheticBackend, kw: dict) -> list[float]:
    """The values :data:`PINNED` holds, from backend ``b`` built with ``kw``."""
    k = b.space.k
    w = np.random.default_rng(0).dirichlet(np.ones(k), 2)
    sched = MixtureSchedule((0, 1500), (Mixture(w[0]), Mixture(w[1])))
    r = b.run(RunSpec(Mixture(w.mean(0)), "60M", 2500, seed=2, schedule=sched))
    vals = [float(r.curve.metrics["loss:target"][-1]), float(r.curve.metrics[f"loss:d{k - 1}"][0])]
    if kw.get("tasks"):
        vals.append(float(r.curve.metrics["task:1"][-1]))
    vals.append(b.true_value(Mixture(w[0]), Fidelity("1B", 20000), b.default_objective))
    return vals


@pytest.mark.parametrize("extra", [{}, {"anneal": 0.0, "anneal_window": 0.5, "anneal_saturation": 2.0}])
@pytest.mark.parametrize("kw,expected", PINNED)
def test_off_is_bit_identical(kw, expected, extra):
    """Annealing off gives the values from before the law existed: bit for bit against the backend without the
    anneal keys on this machine, and to 1e-12 against the pinned numbers (their last bit differs between CPUs)."""
    b = SyntheticBackend(**kw, **extra)
    vals = _pinned_values(b, kw)
    assert vals == _pinned_values(SyntheticBackend(**kw), kw)
    assert vals == pytest.approx(expected, rel=1e-12, abs=0)
    assert "anneal" not in b.describe()


@pytest.mark.parametrize("rho", [1.0, 0.9995])
@pytest.mark.parametrize("fractions", [[0.8, 0.2], [0.55, 0.3, 0.15], [0.7, 0.0, 0.3], [1.0]])
@pytest.mark.parametrize("anneal", [0.0, 0.25])
def test_run_agrees_with_schedule_values(rho, fractions, anneal):
    b = SyntheticBackend(k=5, seed=4, rho=rho, tasks=4, anneal=anneal)
    p, steps = len(fractions), 2500
    W = np.random.default_rng(1).dirichlet(np.full(5, 0.5), p)
    sched = _schedule(W, fractions, steps)
    res = b.run(RunSpec(sched.average(steps), "60M", steps, seed=0, schedule=sched))
    truth = b.schedule_values(np.stack([W, W[::-1]]), fractions, Fidelity("60M", steps), b.default_objective)
    assert truth[0] == pytest.approx(res.curve.final()["loss:target"], abs=1e-9)
    from bomix.backends.synthetic_phases import schedule_metrics

    m = schedule_metrics(b, W, fractions, "60M", steps)
    assert set(m) == set(b.metrics)
    for name in b.metrics:
        assert m[name][0] == pytest.approx(res.curve.final()[name], abs=1e-9), name
    if p == 1:  # one phase is the static mixture
        assert truth[0] == pytest.approx(b.true_value(Mixture(W[0]), Fidelity("60M", steps), b.default_objective),
                                         abs=1e-12)


def test_kernel_shares_partition_and_favour_the_end():
    t = np.array([1000.0, 20000.0])
    edges = np.array([0.0, 0.5, 0.8, 1.0])
    shares = np.stack([kernel_shares(edges[i] * t, edges[i + 1] * t, t, 0.1) for i in range(3)])
    np.testing.assert_allclose(shares.sum(0), 1.0, atol=1e-12)
    np.testing.assert_allclose(shares[:, 0], shares[:, 1], atol=1e-12)  # a function of fractions of t only
    assert shares[2, 0] == pytest.approx((1 - np.exp(-2)) / (1 - np.exp(-10)))  # the last 20%: 86%
    assert kernel_shares(2000.0, 3000.0, 1000.0, 0.1) == 0.0  # steps after t do not count


@pytest.fixture(scope="module")
def annealed():
    return [SyntheticBackend(k=6, seed=s, anneal=0.25) for s in range(3)]


def test_best_schedule_beats_best_static_and_phases_differ(annealed):
    for b in annealed:
        obj = b.default_objective
        static, v_static = b.optimum(obj)
        W, v = b.schedule_optimum(TWO, None, obj)
        assert v_static - v >= 0.02  # measured 0.024..0.046 over seeds 0-9 (report)
        assert _tv(W[0], W[1]) >= 0.5
        # the static optimum under the same law: as a schedule of identical phases it has the same value
        same = b.schedule_values(np.stack([static.weights] * 2)[None], TWO, b.space.target, obj)[0]
        assert same == pytest.approx(v_static, abs=1e-12)
        # the late phase matters more per token: swapping the phases' mixtures is worse than static
        assert b.schedule_values(W[::-1][None], TWO, b.space.target, obj)[0] > v_static
        assert np.all(b.schedule_values(np.random.default_rng(0).dirichlet(np.ones(6), (500, 2)), TWO,
                                        b.space.target, obj) >= v - 1e-12)


def test_without_anneal_no_schedule_beats_static():
    b = SyntheticBackend(k=6, seed=0)
    _, v_static = b.optimum(b.default_objective)
    _, v = b.schedule_optimum(TWO)
    assert v == pytest.approx(v_static, abs=1e-6)


def test_static_optimum_sees_the_annealing_term(annealed):
    plain = SyntheticBackend(k=6, seed=0)
    m_plain, v_plain = plain.optimum(plain.default_objective)
    m, v = annealed[0].optimum(annealed[0].default_objective)
    assert v < v_plain - 0.02
    assert plain.true_value(m, plain.space.target, plain.default_objective) > v_plain  # not the plain optimum


@pytest.mark.parametrize("fid", [Fidelity("20M", 500), Fidelity("150M", 4000), Fidelity("1B", 20000)])
def test_gap_holds_at_every_fidelity(annealed, fid):
    b = annealed[1]
    _, v_static = b.optimum(b.default_objective, fid)
    W, v = b.schedule_optimum(TWO, fid)
    assert v_static - v > 0.02
    assert W[1, -1] > 0.2 and W[0, -1] < 0.05  # the mid-training source belongs to the late phase


def test_schedule_optimum_is_deterministic_and_other_objectives():
    b = SyntheticBackend(k=4, seed=2, anneal=0.25, tasks=2)
    obj = Objective.metric("loss:d0")
    W1, v1 = b.schedule_optimum(TWO, Fidelity("20M", 1000), obj)
    W2, v2 = SyntheticBackend(k=4, seed=2, anneal=0.25, tasks=2).schedule_optimum(TWO, Fidelity("20M", 1000), obj)
    np.testing.assert_array_equal(W1, W2)
    assert v1 == v2
    assert v1 == pytest.approx(b.schedule_values(W1[None], TWO, Fidelity("20M", 1000), obj)[0], abs=1e-12)
    np.testing.assert_allclose(W1.sum(1), 1.0)


def test_describe_and_law_override():
    b = SyntheticBackend(k=3, anneal=0.2, anneal_window=0.05)
    assert b.describe()["anneal"] == {"strength": 0.2, "window": 0.05, "saturation": 0.3}
    Q = np.eye(3)
    b = SyntheticBackend(k=3, anneal=0.2, law={"Q": Q})
    np.testing.assert_array_equal(b.Q, Q)
    # with Q = I a static vertex's own domain is annealed at full quality: factor 1 - c / (1 + kappa)
    plain = SyntheticBackend(k=3)
    w = np.array([[1.0, 0.0, 0.0]])
    d_on = b.metrics_at(w, "20M", 1000)["loss:d0"][0]
    d_off = plain.metrics_at(w, "20M", 1000)["loss:d0"][0]
    const = plain.law_terms(20e6)[0][0]
    assert d_on - const == pytest.approx((d_off - const) * (1 - 0.2 / 1.3))


def test_controllers_refused_under_the_annealing_law():
    b = SyntheticBackend(k=4, anneal=0.2)
    spec = RunSpec(Mixture([0.25] * 4), "20M", 500, seed=1, controller={"kind": "odm"})
    with pytest.raises(BomixError, match="backend.anneal=0"):
        b.run(spec)
    with pytest.raises(BomixError, match="backend.anneal=0"):
        b.true_value_recipe(spec, b.default_objective)
    assert SyntheticBackend(k=4).run(spec).ok


@pytest.mark.parametrize("kw,msg", [
    (dict(anneal=-0.1), "backend.anneal must"), (dict(anneal=1.0), "backend.anneal must"),
    (dict(anneal="x"), "backend.anneal must"), (dict(anneal=True), "backend.anneal must"),
    (dict(anneal=float("nan")), "backend.anneal must"), (dict(anneal_window=0.0), "anneal_window"),
    (dict(anneal_window=1.5), "anneal_window"), (dict(anneal_saturation=0), "anneal_saturation"),
    (dict(law={"Q": -np.eye(3)}), "law parameter Q"), (dict(law={"Q": np.eye(2)}), "law parameter Q"),
])
def test_bad_parameters_are_one_line_errors(kw, msg):
    with pytest.raises(BomixError, match=msg) as e:
        SyntheticBackend(k=3, **kw)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("W,f,msg", [
    (np.full((1, 2, 4), 0.25), [0.8, 0.2], "shape"),
    (np.full((1, 2, 3), 0.5), [0.8, 0.2], "sum to 1"),
    (np.full((1, 2, 3), 1 / 3), [0.8, 0.3], "fractions must be non-negative"),
    (np.full((1, 2, 3), 1 / 3), [0.8, 0.1, 0.1], "fractions must have shape"),
    (np.full((1, 2, 3), 1 / 3), [1.2, -0.2], "fractions must be non-negative"),
])
def test_bad_schedules_are_one_line_errors(W, f, msg):
    b = SyntheticBackend(k=3, anneal=0.2)
    with pytest.raises(BomixError, match=msg) as e:
        b.schedule_values(W, f, b.space.target, b.default_objective)
    assert "\n" not in str(e.value)
    with pytest.raises(BomixError, match="one fractions vector"):
        b.schedule_optimum([[0.5, 0.5]])


def test_anneal_config_defaults_off():
    assert not AnnealConfig().on and AnnealConfig(0.1).on
