import numpy as np
import pandas as pd
import pytest

from bomix.errors import BomixError
from bomix.laws import DCPTLaw, ShukorLaw, dcpt_optimum_ratio


def _grid_table(table_of, f, K_w, steps=(1000, 2000, 4000, 8000), params=(1e6, 4e6, 1.6e7)):
    rows = []
    for j, w in enumerate(K_w):
        for n in params:
            W = np.tile(w, (len(steps), 1))
            rows.append(table_of(W, {"loss": f(W, n, np.asarray(steps, float))}, steps=np.array(steps), params=n,
                                 run_ids=[f"r{j}-{n}"] * len(steps)))
    return pd.concat(rows, ignore_index=True)


def test_dcpt_recovers_ratio(table_of):
    dom = DCPTLaw.from_params(E=1.2, A=40.0, a=0.3, B=30.0, h=0.5, b=0.35, C=0.05, g=0.6)
    gen = DCPTLaw.from_params(E=1.5, A=40.0, a=0.3, B=0.0, h=0.0, b=0.3, C=0.0, g=0.0)
    rs = [0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9]
    t = _grid_table(table_of, lambda W, n, s: dom.predict(W[:, 1], n, s), [[1 - r, r] for r in rs])
    fit = DCPTLaw.fit(t, domain="d1", metric="loss", n_starts=256)
    N, D = 1e8, 20000.0
    grid = np.linspace(0, 1, 11)
    np.testing.assert_allclose(fit.predict(grid, N, D), dom.predict(grid, N, D), rtol=5e-3)
    r_true = dcpt_optimum_ratio(dom, None, N, D)
    assert 0.05 < r_true < 0.95
    assert dcpt_optimum_ratio(fit, None, N, D) == pytest.approx(r_true, abs=0.02)
    # a general-loss law that degrades with r caps the ratio
    gen2 = DCPTLaw.from_params(E=1.5, A=1.0, a=0.3, B=2.0, h=1.0, b=0.0, C=0.0, g=0.0)
    r_cap = dcpt_optimum_ratio(dom, gen2, N, D, cap=0.05)
    assert r_cap < r_true and (gen2.predict(r_cap, N, D) - gen2.predict(0.0, N, D)) / gen2.predict(0.0, N, D) <= 0.05
    with pytest.raises(BomixError):
        dcpt_optimum_ratio(dom, None, N, D, r_min=0.5, r_max=0.2)


def test_shukor_recovers_optimum(table_of):
    law = ShukorLaw.from_params(E=1.5, A=30.0, a=0.3, B=40.0, b=0.4, C=[2.0, 1.0, 0.5], g=[0.4, 0.6, 0.3])
    W = np.random.default_rng(0).dirichlet(np.ones(3), size=8)
    t = _grid_table(table_of, lambda W, n, s: law.predict(W, n, s), list(W))
    fit = ShukorLaw.fit(t, "loss", n_starts=256)
    np.testing.assert_allclose(fit.predict(W, 1e9, 20000.0), law.predict(W, 1e9, 20000.0), rtol=5e-3)
    np.testing.assert_allclose(fit.optimum().weights, law.optimum().weights, atol=0.02)
    with pytest.raises(BomixError, match="checkpoints"):
        ShukorLaw.fit(t.head(3), "loss")
