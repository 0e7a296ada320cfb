"""Building simulators: model mode recovers the synthetic truth; reports, options and pool builds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from bomix.backends.replay import ReplayBackend
from bomix.backends.replay.build import build, make_space, parse_objective
from bomix.runtable import validate
from bomix.backends.replay.model import _subsample, fit_metric
from bomix.errors import BomixError
from bomix.space import Fidelity


def test_model_mode_recovers_the_synthetic_truth(truth, model_dir):
    sim = ReplayBackend(model_dir)
    obj = truth.default_objective
    assert sim.default_objective.metrics == ["loss:target"]
    fid = Fidelity("1B", 20000)
    assert sim.space.target == fid
    w = np.random.default_rng(5).dirichlet(np.ones(4), 300)
    pred = sim.predict(w, "1B", 20000)["loss:target"]
    true = obj.values(truth.metrics_at(w, "1B", 20000))
    rho = spearmanr(pred, true).statistic
    assert rho > 0.9, rho
    assert np.mean(np.abs(pred - true)) < 0.1 * np.ptp(true) + 0.01
    # the model's optimum is a near-optimal mixture of the truth
    m, v = sim.optimum(obj)
    true_best = truth.optimum(obj)[1]
    regret = truth.true_value(m, fid, obj) - true_best
    spread = np.ptp(true)
    assert regret < 0.1 * spread, (regret, spread)


def test_accuracy_report_written(model_dir):
    rep = json.loads(open(f"{model_dir}/report.json").read())
    assert rep["mode"] == "model" and rep["n_test_runs"] > 0
    rows = rep["metrics"]["loss:target"]["by_fidelity"]
    assert {(r["scale"], r["step"]) for r in rows} >= {("20M", 20000), ("1B", 20000)}
    for r in rows:
        assert r["n"] >= 3 and -10 < r["r2"] <= 1 and -1 <= r["spearman"] <= 1
    big = [r for r in rows if r["scale"] == "20M" and r["step"] == 20000][0]
    assert big["spearman"] > 0.8
    md = open(f"{model_dir}/report.md").read()
    assert "| scale | step | n | R^2 | Spearman | MAE |" in md and "(target)" in md


def test_build_options_target_and_objective(table, tmp_path):
    runs = validate(table)
    sp = make_space(runs, "150M", 10000)
    assert sp.target == Fidelity("150M", 10000) and sp.max_steps == 20000
    with pytest.raises(BomixError, match="target-scale"):
        make_space(runs, "7B")
    with pytest.raises(BomixError, match="150M@7000 was never logged"):
        make_space(runs, "150M", 7000)
    assert parse_objective("mean:a, b") == {"mean": ["a", "b"]}
    assert parse_objective("max:acc") == {"maximize": "acc"}
    assert parse_objective('{"weights": {"a": 2}}') == {"weights": {"a": 2}}
    with pytest.raises(BomixError, match="JSON"):
        parse_objective("{bad")
    out = build(runs, tmp_path / "p", mode="pool", target_scale="150M", target_step=10000,
                objective="mean:loss:d0,loss:d1")
    sim = ReplayBackend(str(out))
    assert sim.space.target == Fidelity("150M", 10000)
    assert sim.default_objective.metrics == ["loss:d0", "loss:d1"]
    with pytest.raises(BomixError, match="unknown metric"):
        build(runs, tmp_path / "q", mode="pool", objective="nope")
    with pytest.raises(BomixError, match="mode"):
        build(runs, tmp_path / "r", mode="magic")


def test_numpy_predictor_matches_botorch_posterior_mean():
    from botorch.models import SingleTaskGP

    rng = np.random.default_rng(0)
    n = 60
    w = rng.dirichlet(np.ones(3), n)
    st = np.column_stack([rng.choice([0.0, 1.0], n), np.ones(n)])
    x = np.column_stack([w, st])
    y = 2.0 - st[:, 0] + np.sin(4 * w[:, 0]) * 0.3
    mod = fit_metric(x, y, np.arange(n).astype(str), max_train=n)
    # rebuild the same GP in BoTorch with the fitted hyperparameters, on the standardised residuals
    z = (y - mod._mu(x[:, -2:])) / np.exp(mod._lsd(x[:, -2:]))
    gp = SingleTaskGP(torch.tensor(x), torch.tensor(z)[:, None], outcome_transform=None)
    gp.covar_module.lengthscale = torch.tensor(mod.lengthscale)[None]
    gp.mean_module.constant.data.fill_(mod.const)
    gp.likelihood.noise = torch.tensor([mod.noise + 1e-8])
    gp.eval()
    xt = np.column_stack([rng.dirichlet(np.ones(3), 20), np.full((20, 2), 1.0)])
    with torch.no_grad():
        ref = gp.posterior(torch.tensor(xt)).mean.squeeze(-1).numpy()
    np.testing.assert_allclose(mod.residual(xt), ref, rtol=1e-4, atol=1e-5)


def test_hyperparameters_fit_on_a_subsample_then_condition_on_all_training_rows(monkeypatch):
    """hyper_train rows (water-filled) for the MLL fit, refined on all max_train rows, which the GP conditions on."""
    import bomix.backends.replay.model as model

    seen = []
    real = model._fit_hyper
    monkeypatch.setattr(model, "_fit_hyper", lambda X, z, seed, **kw: seen.append((X.shape, "init" in kw))
                        or real(X, z, seed, **kw))
    rng = np.random.default_rng(0)
    n = 240
    w = rng.dirichlet(np.ones(3), n)
    st = np.column_stack([np.repeat([0.0, 1.0], [200, 40]), np.ones(n)])
    x = np.column_stack([w, st])
    y = 2.0 - st[:, 0] + 0.3 * np.sin(4 * w[:, 0]) + 0.01 * rng.standard_normal(n)
    mod = fit_metric(x, y, np.arange(n).astype(str), max_train=160, hyper_train=60)
    assert seen == [((60, 5), False), ((160, 5), True)] and mod.X.shape == (160, 5)  # subsample fit, then the warm refine
    xt = np.column_stack([rng.dirichlet(np.ones(3), 50), np.zeros(50), np.ones(50)])
    truth = 2.0 + 0.3 * np.sin(4 * xt[:, 0])
    assert np.abs(mod.predict(xt) - truth).max() < 0.05
    with pytest.raises(BomixError, match="--hyper-train must be >= 3"):
        build(validate(pd.DataFrame({"run_id": ["a"], "scale": ["s"], "params": [1e6], "step": [1], "w:a": [0.5],
                                     "w:b": [0.5], "m:loss": [1.0]})), "/nonexistent", hyper_train=2)


def test_subsample_water_fills_groups():
    st = np.array([[0.0, 0.0]] * 500 + [[1.0, 1.0]] * 20)
    keep = _subsample(st, 100, np.random.default_rng(0))
    assert len(keep) == 100 and (keep >= 500).sum() == 20


def test_default_optimum_is_cached_at_build(model_dir):
    meta = json.loads(open(f"{model_dir}/simulator.json").read())
    assert len(meta["optima"]) == 1
    sim = ReplayBackend(model_dir)
    cached = sim.optimum(sim.default_objective)
    fresh = sim._search(sim.default_objective, sim.space.target)
    assert cached[1] == pytest.approx(fresh[1], abs=1e-9)


def test_model_mode_with_final_only_runs_at_distinct_steps(tmp_path):
    """No fidelity has >= 3 runs: the baseline falls back to one global level; the GP still ranks mixtures."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 30
    w = rng.dirichlet(np.ones(3), n)
    steps = rng.choice(np.arange(100, 5000, 7), n, replace=False)
    loss = 3.0 + 2.0 * (w[:, 0] - 0.4) ** 2 - 0.1 * np.log(steps / 100)
    df = pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "scale": "s", "params": 1e7, "step": steps,
                       "w:a": w[:, 0], "w:b": w[:, 1], "w:c": w[:, 2], "m:loss": loss})
    sim = ReplayBackend(str(build(validate(df), tmp_path / "m", mode="model", holdout=0.0)))
    probe = np.array([[0.4, 0.3, 0.3], [1.0, 0.0, 0.0]])
    pred = sim.predict(probe, "s", 4000)["loss"]
    assert pred[0] < pred[1]
    m, _ = sim.optimum(sim.default_objective)
    assert abs(m[0] - 0.4) < 0.15


def test_a_huge_metric_is_refused_on_read_naming_its_row_and_column(table, tmp_path, capsys):
    """1e308 is finite but overflows the model's arithmetic (BoTorch saw NaN): refused when the table is read."""
    from bomix.cli import main

    bad = table.copy()
    bad.loc[5, "m:loss:target"] = 1e308
    with pytest.raises(BomixError, match=r"column m:loss:target has 1e\+308 at row 7 \(run '20M-\d+'\)"):
        validate(bad)
    path = tmp_path / "big.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "sim"
    code = main(["simulator", "build", str(path), "--mode", "model", "--out", str(out), "--metrics", "loss:target",
                 "--objective", "loss:target", "--holdout", "0", "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "m:loss:target" in err[0] and "row 7" in err[0], err
    assert not out.exists()


def test_a_failed_build_leaves_nothing_and_keeps_an_earlier_build(table_csv, tmp_path, monkeypatch):
    """The simulator is built in a temporary folder and moved into place only when complete."""
    import bomix.backends.replay.build as build_module

    def failing_fit(*args, **kwargs):
        raise RuntimeError("the fit failed")

    out = tmp_path / "new" / "sim"
    model = dict(mode="model", objective="loss:target", metrics=["loss:target"], holdout=0, workers=1)
    with monkeypatch.context() as m:
        m.setattr(build_module, "fit_models", failing_fit)
        with pytest.raises(RuntimeError, match="the fit failed"):
            build(table_csv, out, **model)
    assert not (tmp_path / "new").exists()  # no partial runs.csv, no folder made for it
    build(table_csv, out, mode="pool", objective="loss:target")
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with monkeypatch.context() as m:
        m.setattr(build_module, "fit_models", failing_fit)
        with pytest.raises(RuntimeError, match="the fit failed"):
            build(table_csv, out, **model)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier build, untouched
    build(table_csv, out, mode="pool", objective="loss:target", target_scale="150M")  # a rebuild replaces its files
    assert json.loads((out / "simulator.json").read_text())["target"]["scale"] == "150M"
    assert (out / "notes.txt").read_text() == "mine" and not list(out.glob(".*"))
