import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.laws import BiMix


def test_fit_recovers_optimum(table_of):
    law = BiMix.from_params(A=[1.0, 1.2, 0.8], a=[0.05, 0.12, 0.2], B=[20.0, 30.0, 25.0], b=[0.4, 0.5, 0.45],
                            C=[1.5, 1.2, 1.8])
    rng = np.random.default_rng(1)
    W = rng.dirichlet(np.ones(3) * 2, size=10)
    steps = np.arange(1000, 10001, 1000)
    Wr = np.repeat(W, steps.size, axis=0)
    S = np.tile(steps, len(W))
    L = law.predict(Wr, S)
    t = table_of(Wr, {f"loss:d{i}": L[:, i] for i in range(3)}, steps=S,
                 run_ids=np.repeat([f"r{i}" for i in range(len(W))], steps.size))
    fit = BiMix.fit(t, n_starts=64)
    np.testing.assert_allclose(fit.predict(Wr, S), L, rtol=1e-3)
    true = law.optimum(steps=20000).weights
    np.testing.assert_allclose(fit.optimum(steps=20000).weights, true, atol=0.01)
    # closed form agrees with a direct search, and respects bounds
    grid = rng.dirichlet(np.ones(3), size=20000)
    assert law.predict(true[None], 20000).sum() <= law.predict(grid, 20000).sum(1).min() + 1e-9
    wb = law.optimum(steps=20000, upper=[1.0, 0.2, 1.0]).weights
    assert wb[1] == pytest.approx(0.2, abs=1e-9) and wb.sum() == pytest.approx(1.0)


def test_needs_domain_metrics(table_of):
    t = table_of(np.full((6, 2), 0.5), {"other": np.ones(6)})
    with pytest.raises(BomixError, match="validation metric per domain"):
        BiMix.fit(t)
