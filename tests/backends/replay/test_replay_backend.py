"""ReplayBackend: pool replay, model-mode runs, truth, errors, and the shipped RegMix simulator."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bomix.backends.replay import ReplayBackend
from bomix.errors import BomixError
from bomix.runs import RunSpec
from bomix.space import Fidelity


def test_pool_replays_logged_points_exactly(pool_dir, table):
    sim = ReplayBackend(pool_dir, seed=0)
    cands = sim.candidates()
    assert len(cands) == len(table)
    m, fid = next((m, f) for m, f in cands if f == Fidelity("1B", 10000))
    res = sim.run(RunSpec(m, fid.scale, fid.steps, run_id="x"))
    assert res.ok and res.curve.steps.tolist() == [2500, 5000, 10000]
    rid = res.info["logged_run"]
    logged = table[(table["run_id"] == rid) & (table["step"] == 10000)]["m:loss:target"].item()
    assert res.curve.final()["loss:target"] == pytest.approx(logged)
    assert sim.true_value(m, fid, sim.default_objective) == pytest.approx(logged)
    best_m, best_v = sim.optimum(sim.default_objective)
    at_target = table[(table["scale"] == "1B") & (table["step"] == 20000)]["m:loss:target"]
    assert best_v == pytest.approx(at_target.min())


def test_pool_rejects_points_outside_it(pool_dir):
    sim = ReplayBackend(pool_dir)
    m = sim.space.center()
    res = sim.run(RunSpec(m, "1B", 20000))
    assert res.status == "failed" and "not in the pool" in res.error
    m0, f0 = sim.candidates()[0]
    with pytest.raises(BomixError, match="no logged data") as exc:  # a fidelity nobody logged: refused
        sim.run(RunSpec(m0, f0.scale, 7000))
    assert "\n" not in str(exc.value) and "150M@5000" in str(exc.value)
    assert np.isnan(sim.true_value(m, sim.space.target, sim.default_objective))
    with pytest.raises(BomixError, match="model-mode"):
        sim.predict(m.weights[None], "1B", 20000)


def test_model_mode_runs_curves_noise_and_cost(model_dir):
    sim = ReplayBackend(model_dir)
    m = sim.space.center()
    res = sim.run(RunSpec(m, "150M", 7000, seed=1))
    assert res.ok and res.curve.steps.tolist() == [2500, 5000, 7000]
    assert set(res.curve.metrics) == {"loss:d0", "loss:target"}
    assert res.cost == pytest.approx(150e6 * 7000 / (1e9 * 20000))
    assert res.curve.final()["loss:target"] == pytest.approx(
        sim.true_value(m, Fidelity("150M", 7000), sim.default_objective))
    noisy = ReplayBackend(model_dir, noise=0.05, seed=3)
    a, b = noisy.run(RunSpec(m, "1B", 20000, seed=1)), noisy.run(RunSpec(m, "1B", 20000, seed=2))
    assert a.curve.final()["loss:target"] != b.curve.final()["loss:target"]
    assert noisy.run(RunSpec(m, "1B", 20000, seed=1)).curve.final() == a.curve.final()
    cont = RunSpec(m, "1B", 20000, resume_from="r0", resume_step=10000)
    assert sim.cost(cont) == pytest.approx(0.5)


def test_missing_simulator_is_one_line(tmp_path):
    with pytest.raises(BomixError, match="bomix simulator build") as exc:
        ReplayBackend(str(tmp_path / "nothing"))
    assert "\n" not in str(exc.value)


def test_shipped_regmix_loads_fast_and_has_truth():
    t0 = time.perf_counter()
    sim = ReplayBackend("simulator/regmix/built")
    assert time.perf_counter() - t0 < 10
    assert sim.name == "regmix-model" and sim.space.k == 17 and sim.space.target == Fidelity("1B", 23842)
    assert sim.default_objective.metrics == ["pile_cc"]
    import pandas as pd

    t = pd.read_csv(sim.path + "/runs.csv")
    big = t[t["scale"] == "1B"]
    w = big[[f"w:{d}" for d in sim.space.domains]].to_numpy(float)
    pred = sim.predict(w, "1B", 23842)["pile_cc"]
    # in-sample at the target: the model follows the logged 1B losses across mixtures
    assert np.corrcoef(pred, big["m:pile_cc"])[0, 1] > 0.9
    m, v = sim.optimum(sim.default_objective)
    assert v <= pred.min() + 1e-9


@pytest.mark.parametrize("which", ["model_dir", "pool_dir"])
def test_campaign_on_replay_reports_regret(which, request, tmp_path):
    from bomix.campaign import run_campaign
    from bomix.policies.heuristics import RandomPolicy

    sim = ReplayBackend(request.getfixturevalue(which))
    summary = run_campaign(sim, RandomPolicy(), budget=3, seed=0, directory=tmp_path)
    assert summary["n_runs"] == 3
    assert summary["regret"] is not None and summary["regret"] >= 0
    assert np.isfinite(summary["true_value"])


def test_hyperband_on_a_pool_runs_only_pool_points_and_finishes(pool_dir, tmp_path):
    """Rungs are the pool's steps at the target scale; every run is a logged point (none failed)."""
    from bomix.campaign import run_campaign
    from bomix.policies.hyperband import HyperbandPolicy
    from bomix.store import Store

    sim = ReplayBackend(pool_dir)
    s = run_campaign(sim, HyperbandPolicy(), budget=6, seed=0, directory=tmp_path, batch_size=4)
    runs = Store(tmp_path).to_pandas()["runs"]
    assert (runs["status"] == "ok").all() and s["stop_reason"] in ("budget", "policy")
    assert set(runs["scale"]) == {"1B"} and len(set(runs["steps"])) >= 2
    assert np.isfinite(s["regret"])


def test_model_grid_is_the_logged_fidelities_plus_declared_curve_ranges(model_dir, pool_dir):
    sim = ReplayBackend(model_dir)
    # the runs log learning curves 2500..20000: model mode declares that range trusted per scale
    assert sim.space.grid.ranges == {s: (2500, 20000) for s in ("20M", "150M", "1B")}
    assert sim.meta["grid"]["ranges"]["1B"] == [2500, 20000]
    assert sim.run(RunSpec(sim.space.center(), "150M", 7000)).ok  # inside a logged curve: interpolation
    pool = ReplayBackend(pool_dir)
    assert pool.space.grid.ranges == {}  # a pool answers logged points only
    assert pool.name.endswith("-pool") and sim.name.endswith("-model")


def test_shipped_regmix_grid_is_its_three_logged_fidelities():
    sim = ReplayBackend("simulator/regmix/built")
    assert sim.space.fidelity_grid() == [Fidelity("1M", 1000), Fidelity("60M", 1000), Fidelity("1B", 23842)]
    m = sim.space.center()
    for scale, steps in (("1B", 1000), ("1M", 23842)):  # the two fidelities the old grid extrapolated to
        with pytest.raises(BomixError, match=f"fidelity {scale}@{steps} has no logged data") as exc:
            sim.run(RunSpec(m, scale, steps))
        assert "\n" not in str(exc.value)
        with pytest.raises(BomixError, match="no logged data"):
            sim.true_value(m, Fidelity(scale, steps), sim.default_objective)
    # trust region and gates of the shipped build
    t = sim.space.target
    assert sim.trust.radius_at(t) == pytest.approx(sim.meta["trust"]["radius"]["1B@23842"])
    opt, _ = sim.optimum(sim.default_objective)
    assert sim.extrapolated(opt, t) is False
    assert sim.extrapolated(sim.space.mixture(np.eye(17)[0]), t) is True  # a one-domain vertex
    assert sim.meta["warnings"] == []


@pytest.mark.parametrize("which", ["model_dir", "pool_dir"])
def test_true_values_is_true_value_per_row(which, request):
    """The batch truth (one prediction in model mode; per row on a pool) equals true_value row by row."""
    sim = ReplayBackend(request.getfixturevalue(which))
    obj, fid = sim.default_objective, Fidelity("1B", 10000)
    mixes = [m for m, f in sim.candidates() if f == fid][:5] if which == "pool_dir" else \
        [sim.space.mixture(w) for w in np.random.default_rng(0).dirichlet(np.ones(sim.space.k), 5)]
    W = np.array([m.weights for m in mixes])
    got = sim.true_values(W, fid, obj)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, [sim.true_value(m, fid, obj) for m in mixes], rtol=1e-12)
    assert len(set(np.round(got, 9))) == 5  # five different mixtures, five different values


def test_constrained_optimum_of_a_pool_is_its_best_feasible_point(pool_dir):
    """Outcome constraints on a pool simulator: the regret reference is the best logged point that meets them."""
    from bomix.backends.truth import constrained_optimum
    from bomix.constraints import parse_constraints

    sim = ReplayBackend(pool_dir)
    t, obj = sim.space.target, sim.default_objective
    pool = np.array([m.weights for m, f in sim.candidates() if f == t])
    d0 = sim.true_values(pool, t, type(obj).metric("loss:d0"))
    vals = sim.true_values(pool, t, obj)
    bound = float(np.median(d0))
    (con,) = parse_constraints([{"metric": "loss:d0", "max": bound}], sim.metrics)
    w, v = constrained_optimum(sim, obj, (con,))
    assert v == pytest.approx(vals[d0 <= bound].min()) and v >= sim.optimum(obj)[1]
    assert any(np.allclose(w, p) for p in pool)
    (impossible,) = parse_constraints([{"metric": "loss:d0", "max": float(d0.min()) - 1}], sim.metrics)
    assert constrained_optimum(sim, obj, (impossible,))[0] is None
