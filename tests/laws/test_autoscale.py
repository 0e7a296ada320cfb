import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.laws import AutoScale


def _design(K, factors):
    """Base uniform run + per domain its data scaled by each factor (others equal)."""
    W = [np.full(K, 1.0 / K)]
    for i in range(K):
        for m in factors:
            c = np.ones(K)
            c[i] = m
            W.append(c / c.sum())
    return np.array(W)


@pytest.mark.parametrize("factors", [(1 / 3, 3), (1 / 3, 1 / 2, 2, 3)])
def test_fit_recovers_optimum(table_of, factors):
    K = 4
    law = AutoScale.from_params(a=[0.3, 0.1, 0.5, 0.2], b=[0.4, 0.9, 0.3, 0.6], c=[0.0] * K)
    W = _design(K, factors)
    x = K * W
    yn = np.ones(len(W))  # normalised loss: 1 at the base; a perturbation moves only its domain's term
    for r in range(1, len(W)):
        i = (r - 1) // len(factors)
        yn[r] = 1.0 + (x[r, i] + law.a[i]) ** (-law.b[i]) - (1.0 + law.a[i]) ** (-law.b[i])
    t = table_of(W, {"loss": 3.0 * yn})
    fit = AutoScale.fit(t, "loss", n_starts=64)
    true = law.optimum().weights
    assert np.abs(true - 1 / K).max() > 0.05
    np.testing.assert_allclose(fit.optimum().weights, true, atol=0.01)
    if len(factors) > 2:  # 3 points per domain determine (a, b, c) only up to near-equivalent fits
        np.testing.assert_allclose(fit.b, law.b, rtol=0.1)


def test_extrapolate_and_bad_input(table_of):
    np.testing.assert_allclose(AutoScale.extrapolate([1.0, 2.0], [2.0, 2.0]), [4.0, 2.0])
    with pytest.raises(BomixError):
        AutoScale.extrapolate([0.0, 1.0], [1.0, 1.0])
    t = table_of(np.array([[0.7, 0.3], [0.2, 0.8], [0.4, 0.6]]), {"loss": [1.0, 2.0, 3.0]})
    with pytest.raises(BomixError, match="uniform"):
        AutoScale.fit(t, "loss")
    law = AutoScale.from_params(a=[0.3, 0.1], b=[0.4, 0.9], c=[0, 0])
    assert law.optimum(lower=[0.6, 0.0]).weights[0] == pytest.approx(0.6, abs=1e-6)
