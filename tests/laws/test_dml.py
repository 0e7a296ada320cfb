import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.laws import MixingLaw, PowerLaw, nested_extrapolate


def _law():
    t = np.array([[-1.2, 0.05, 0.02], [0.04, -0.8, 0.08], [0.03, 0.01, -0.5]])
    return MixingLaw.from_params(c=[1.5, 2.0, 2.4], k=[1.2, 0.9, 0.6], t=t, metrics=["loss:d0", "loss:d1", "loss:d2"],
                                 metric_weights=[0.5, 0.3, 0.2])


def test_fit_recovers_optimum(table_of):
    law = _law()
    W = np.random.default_rng(0).dirichlet(np.ones(3), size=24)
    L = law.predict(W)
    t = table_of(W, {m: L[:, i] for i, m in enumerate(law.metrics)})
    fit = MixingLaw.fit(t, metric_weights=[0.5, 0.3, 0.2], n_starts=400)
    np.testing.assert_allclose(fit.predict(W), L, rtol=1e-3)
    true = law.optimum().weights
    assert np.abs(true - 1 / 3).max() > 0.05  # a non-trivial optimum
    np.testing.assert_allclose(fit.optimum().weights, true, atol=0.01)
    # the optimum's total beats every design point
    assert law.predict(fit.optimum().weights[None], total=True)[0] <= law.predict(W, total=True).min() + 1e-9


def test_power_law_and_nested_extrapolation(table_of):
    step_law = PowerLaw.from_params(c=1.8, x0=300.0, a=0.6)
    s = np.arange(500, 5001, 500)
    fit = PowerLaw.fit(s, step_law.predict(s))
    assert fit.predict([20000])[0] == pytest.approx(step_law.predict([20000])[0], rel=1e-3)
    # two mixtures x three scales, loss = c(w) + (N0/N)^0.3 + (S0/S)^0.5: predict (1e9, 20000)
    rows = []
    for j, w in enumerate([[0.2, 0.8], [0.7, 0.3]]):
        for n in (1e6, 4e6, 1.6e7):
            y = 1.5 + 0.3 * w[0] + (3e5 / n) ** 0.3 + (200.0 / s) ** 0.5
            rows.append(table_of(np.tile(w, (s.size, 1)), {"loss": y}, steps=s, params=n,
                                 run_ids=[f"m{j}n{n}"] * s.size))
    import pandas as pd

    out = nested_extrapolate(pd.concat(rows), target_step=20000, target_params=1e9)
    assert len(out) == 2
    truth = [1.5 + 0.3 * w0 + (3e5 / 1e9) ** 0.3 + (200.0 / 20000) ** 0.5 for w0 in (0.2, 0.7)]
    np.testing.assert_allclose(out["m:loss"], truth, rtol=0.02)


def test_bad_input(table_of):
    with pytest.raises(BomixError, match="k > 0"):
        MixingLaw.from_params(c=[1.0], k=[-1.0], t=[[0.0, 0.0]])
    t = table_of(np.array([[0.5, 0.5], [0.2, 0.8]]), {"loss": [1.0, 2.0]})
    with pytest.raises(BomixError, match=">= 3 runs"):
        MixingLaw.fit(t)
    with pytest.raises(BomixError, match="lacks metric"):
        MixingLaw.fit(t, metrics=["nope"])
