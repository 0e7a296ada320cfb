import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.runs import MixtureSchedule, RunSpec
from bomix.space import Fidelity, Mixture


def test_run_returns_whole_curve_and_cost(synthetic):
    sp = synthetic.space
    res = synthetic.run(RunSpec(sp.center(), "60M", 2000, seed=1))
    assert res.ok
    assert res.curve.steps.tolist() == [500, 1000, 1500, 2000]
    assert set(res.curve.metrics) == set(synthetic.metrics)
    y = res.curve.metrics["loss:target"]
    assert np.all(np.diff(y) < 0)  # loss falls with steps
    assert res.cost == pytest.approx(synthetic.cost_model("60M", 2000))


def test_loss_falls_with_scale(synthetic):
    sp, obj = synthetic.space, synthetic.default_objective
    vals = [synthetic.true_value(sp.center(), Fidelity(s, 20000), obj) for s in sp.scale_names]
    assert np.all(np.diff(vals) < 0)


def test_optimum_is_on_boundary_and_moves_with_fidelity():
    b = SyntheticBackend(k=5, seed=0)
    obj = b.default_objective
    m_t, v_t = b.optimum(obj)
    assert m_t.weights[-1] < 1e-6  # the useless domain gets exactly zero
    m_s, _ = b.optimum(obj, Fidelity("20M", 500))
    assert np.abs(m_t.weights - m_s.weights).max() > 0.05
    # dense search + refinement beats any random mixture
    rng = np.random.default_rng(0)
    vals = [b.true_value(Mixture(w), b.space.target, obj) for w in rng.dirichlet(np.ones(5), 300)]
    assert v_t <= min(vals) + 1e-9


def test_noise_is_seeded_and_heteroskedastic():
    b = SyntheticBackend(k=3, noise=0.05, hetero=3.0, seed=0)
    spec = RunSpec(b.space.center(), "1B", 20000, seed=5)
    a1 = b.run(spec).curve.metrics["loss:target"]
    a2 = b.run(spec).curve.metrics["loss:target"]
    np.testing.assert_array_equal(a1, a2)

    def spread(w):
        finals = [b.run(RunSpec(Mixture(w), "1B", 20000, seed=s)).curve.final()["loss:target"] for s in range(40)]
        return np.std(finals)

    assert spread([1.0, 0.0, 0.0]) > 2 * spread([1 / 3, 1 / 3, 1 / 3])


def test_schedule_equals_static_when_constant_and_differs_otherwise(synthetic):
    sp = synthetic.space
    m = sp.center()
    static = synthetic.run(RunSpec(m, "60M", 4000, seed=0))
    const = synthetic.run(RunSpec(m, "60M", 4000, seed=0, schedule=MixtureSchedule((0, 2000), (m, m))))
    np.testing.assert_allclose(static.curve.metrics["loss:d0"], const.curve.metrics["loss:d0"])
    other = sp.mixture([0.7, 0.1, 0.1, 0.1])
    sched = synthetic.run(RunSpec(m, "60M", 4000, seed=0, schedule=MixtureSchedule((0, 2000), (m, other))))
    assert sched.curve.metrics["loss:d0"][-1] < static.curve.metrics["loss:d0"][-1]
    np.testing.assert_allclose(sched.curve.metrics["loss:d0"][:4], static.curve.metrics["loss:d0"][:4])


def test_continuation_prefix_matches():
    b = SyntheticBackend(k=3, noise=0.05, seed=0)
    m = b.space.center()
    short = b.run(RunSpec(m, "60M", 2000, seed=9))
    long = b.run(RunSpec(m, "60M", 6000, seed=9, resume_from="r00000", resume_step=2000))
    np.testing.assert_allclose(long.curve.truncate(2000).metrics["loss:target"], short.curve.metrics["loss:target"])
    assert long.cost == pytest.approx(b.cost_model("60M", 6000) - b.cost_model("60M", 2000))


def test_fail_prob_gives_failed_results():
    b = SyntheticBackend(k=3, fail_prob=0.5, seed=0)
    statuses = {b.run(RunSpec(b.space.center(), "20M", 500, seed=s)).status for s in range(20)}
    assert statuses == {"ok", "failed"}


def test_true_values_is_true_value_per_row(synthetic):
    obj, fid = synthetic.default_objective, Fidelity("150M", 5000)
    W = np.random.default_rng(2).dirichlet(np.ones(synthetic.space.k), 6)
    np.testing.assert_allclose(synthetic.true_values(W, fid, obj),
                               [synthetic.true_value(Mixture(w), fid, obj) for w in W], rtol=1e-12)
