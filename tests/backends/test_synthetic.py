import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.backends.truth import constrained_optimum
from bomix.constraints import parse_constraints
from bomix.errors import BomixError
from bomix.objective import Objective
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


# ----- downstream-like task metrics (tasks=T) ------------------------------------------------------------------
def _run0(b: SyntheticBackend) -> dict[str, float]:
    """The final metrics of one pinned run: a Dirichlet mixture at 20M, 2000 steps, seed 0."""
    w = np.random.default_rng(1).dirichlet(np.ones(b.space.k), 5)[0]
    return b.run(RunSpec(Mixture(w, b.space.domains), "20M", 2000, seed=0)).curve.final()


@pytest.mark.parametrize("kw, d0, target", [
    (dict(k=5, seed=0), 4.603827067486631, 4.799262349424943),
    (dict(k=4, seed=3, noise=0.02, hetero=2.0), 4.126212935997082, 4.017633661413288),
    (dict(k=6, seed=1, noise=0.01, rho=0.9995), 5.20871158318946, 4.687899267753636),
])
def test_existing_metrics_are_pinned_and_unchanged_by_tasks(kw, d0, target):
    """Values recorded before task metrics existed (committed benchmark numbers depend on them): exactly equal,
    with or without tasks, noise included."""
    plain, with_tasks = SyntheticBackend(**kw), SyntheticBackend(**kw, tasks=7)
    for b in (plain, with_tasks):
        final = _run0(b)
        assert final["loss:d0"] == d0 and final["loss:target"] == target
    a, t = plain.run(RunSpec(plain.space.center(), "60M", 3000, seed=4)), with_tasks.run(
        RunSpec(with_tasks.space.center(), "60M", 3000, seed=4))
    for m, v in a.curve.metrics.items():
        np.testing.assert_array_equal(t.curve.metrics[m], v)
    W = np.random.default_rng(5).dirichlet(np.ones(plain.space.k), 20)
    np.testing.assert_array_equal(plain.metrics_at(W, "1B", 20000)["loss:target"],
                                  with_tasks.metrics_at(W, "1B", 20000)["loss:target"])
    same = lambda d: {k: v for k, v in d.items() if k != "metrics" and not k.startswith("task")}  # noqa: E731
    assert same(plain.describe()) == same(with_tasks.describe()) and "tasks" not in plain.describe()
    assert plain.metrics == with_tasks.metrics[:len(plain.metrics)]
    assert plain.optimum(plain.default_objective)[1] == with_tasks.optimum(with_tasks.default_objective)[1]


def test_tasks_have_their_own_scales_directions_and_are_reproducible():
    b = SyntheticBackend(k=5, seed=0, tasks=12)
    assert b.metrics[-12:] == tuple(f"task:{j}" for j in range(12))
    assert b.describe()["tasks"] == 12 and b.describe()["task_directions"]["task:0"] == "maximize"
    t = b.space.target
    W = np.random.default_rng(0).dirichlet(np.ones(5), 200)
    m = b.metrics_at(W, t.scale, t.steps)
    for j, kind in enumerate(b.task_kinds):
        v = m[f"task:{j}"]
        if kind == "acc":
            assert np.all((v >= b.task_chance[j]) & (v <= 1)) and b.task_directions()[f"task:{j}"] == "maximize"
        elif kind == "bpb":
            assert np.all((v > 0.5) & (v < 3))
        else:
            assert np.all(v > 10)  # perplexities: tens
    # the uniform mixture at the target scores each accuracy's drawn p0 (a_j is calibrated there)
    acc = [j for j, kind in enumerate(b.task_kinds) if kind == "acc"]
    u = b.metrics_at(b.space.center().weights[None], t.scale, t.steps)
    assert all(0.35 <= (u[f"task:{j}"][0] - b.task_chance[j]) / (1 - b.task_chance[j]) <= 0.75 for j in acc)
    # smaller scale, higher losses: accuracies fall, bits per byte rise
    small = b.metrics_at(b.space.center().weights[None], "20M", 500)
    assert all(small[f"task:{j}"][0] < u[f"task:{j}"][0] for j in acc)
    assert small["task:1"][0] > u["task:1"][0]
    again = SyntheticBackend(k=5, seed=0, tasks=12)
    spec = RunSpec(b.space.center(), "1B", 20000, seed=3)
    assert again.run(spec).curve.final() == b.run(spec).curve.final()
    other = SyntheticBackend(k=5, seed=1, tasks=12).metrics_at(W[:3], t.scale, t.steps)
    assert not np.allclose(other["task:0"], m["task:0"][:3])


def test_tasks_prefer_different_mixtures():
    """Conflicting optima: each task leans on its own domain, so their best mixtures differ."""
    b = SyntheticBackend(k=5, seed=0, tasks=5)
    dirs = b.task_directions()
    best = []
    for j in range(5):
        name = f"task:{j}"
        obj = Objective.negated(name) if dirs[name] == "maximize" else Objective.metric(name)
        best.append(b.optimum(obj)[0].weights)
        assert int(np.argmax(best[-1])) == j  # its own domain gets the largest weight
    tv = [0.5 * np.abs(best[i] - best[j]).sum() for i in range(5) for j in range(i + 1, 5)]
    assert min(tv) > 0.2


def test_task_noise_is_seeded_and_larger_at_corner_mixtures():
    b = SyntheticBackend(k=3, seed=0, tasks=3, noise=0.02, hetero=3.0)
    spec = RunSpec(b.space.center(), "1B", 20000, seed=5)
    assert b.run(spec).curve.final() == b.run(spec).curve.final()

    def spread(w, metric):
        return np.std([b.run(RunSpec(Mixture(w), "1B", 20000, seed=s)).curve.final()[metric] for s in range(40)])

    for metric in ("task:0", "task:1"):
        assert spread([1.0, 0.0, 0.0], metric) > 1.5 * spread([1 / 3, 1 / 3, 1 / 3], metric)
    noiseless = SyntheticBackend(k=3, seed=0, tasks=3)
    final = noiseless.run(spec).curve.final()
    truth = noiseless.metrics_at(spec.mixture.weights[None], "1B", 20000)
    assert all(final[m] == pytest.approx(truth[m][0], rel=1e-12) for m in ("task:0", "task:1", "task:2"))


def test_tasks_option_is_checked():
    with pytest.raises(BomixError, match="backend.tasks must be an integer >= 0"):
        SyntheticBackend(k=3, tasks=-1)


def test_constrained_optimum_of_the_truth():
    """The regret reference of a constrained problem: the best mixture that meets the constraints in the truth."""
    b = SyntheticBackend(k=4, seed=0, tasks=4)
    obj = Objective.from_config({"mean": ["task:0", "task:2"], "maximize": ["task:0", "task:2"]})
    free_w, free_v = b.optimum(obj)
    t = b.space.target
    uniform = b.metrics_at(b.space.center().weights[None], t.scale, t.steps)
    at_free = b.metrics_at(free_w.weights[None], t.scale, t.steps)
    # the domain loss the free optimum worsens most: no worse than the uniform mixture's binds
    metric = max((f"loss:{d}" for d in b.space.domains), key=lambda m: at_free[m][0] / uniform[m][0])
    ref = float(uniform[metric][0])
    assert at_free[metric][0] > ref
    cons = parse_constraints([{"metric": metric, "max_relative": 0.0, "reference": ref}], b.metrics, obj)
    w, v = constrained_optimum(b, obj, cons)
    assert b.metrics_at(w[None], t.scale, t.steps)[metric][0] <= ref + 1e-9
    assert v > free_v and abs(w.sum() - 1) < 1e-9
    W = np.random.default_rng(0).dirichlet(np.ones(4), 3000)
    m = b.metrics_at(W, t.scale, t.steps)
    feasible = m[metric] <= ref
    assert v <= obj.values(m)[feasible].min() + 1e-9  # no random feasible mixture beats it
    impossible = parse_constraints([{"metric": "loss:d2", "max": 0.0}], b.metrics, obj)
    assert constrained_optimum(b, obj, impossible)[0] is None
