import logging

import numpy as np
import pytest
import torch

from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of

torch.set_num_threads(1)


def _data(n: int, seed: int = 0):
    """Mixtures on the 3-simplex + (s, t) fidelity columns; y = smooth function improving with s, t."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(3), n)
    st = rng.uniform(0, 1, (n, 2))
    X = torch.tensor(np.column_stack([w, st]))
    y = -((X[:, 0] - 0.6) ** 2) - 0.5 * (1 - X[:, 3]) - 0.3 * (1 - X[:, 4])
    return X, y.unsqueeze(-1)


@pytest.mark.parametrize("kernel", ["linear_truncated", "exp_decay", "product"])
def test_gp_fits_and_predicts_a_known_function(kernel):
    X, Y = _data(40)
    Xt, Yt = _data(30, seed=1)
    model = fit_gp(X, Y, GPConfig(kernel=kernel, maxiter=50))
    with torch.no_grad():
        mu = model.posterior(Xt).mean
    assert mu.dtype == torch.double
    rmse = float(((mu - Yt) ** 2).mean().sqrt())
    assert rmse < 0.3 * float(Yt.std()), rmse


def test_warm_start_round_trip_and_frozen_hypers():
    X, Y = _data(30)
    cfg = GPConfig(kernel="product", maxiter=40)
    m1 = fit_gp(X, Y, cfg)
    h = hypers_of(m1)
    m2 = fit_gp(X, Y, cfg, warm=h, frozen=True)
    for k, v in hypers_of(m2).items():
        np.testing.assert_allclose(v, h[k])
    # a warm start from a model of another dimension is ignored, not an error
    m3 = fit_gp(X[:, 1:], Y, cfg, warm=h)
    assert len(hypers_of(m3)["covar_module.base_kernel.raw_lengthscale"]) == 4


def test_fixed_noise_linear_mean_matches_the_mfms_setting():
    X, Y = _data(25)
    m = fit_gp(X, Y, GPConfig(kernel="product", matern_nu=None, fixed_noise=0.1, linear_mean=True, maxiter=30))
    assert torch.allclose(m.likelihood.noise, torch.full((25,), 0.1, dtype=torch.double))
    assert "mean_module.weights" in hypers_of(m)


def test_duplicated_data_still_gives_a_usable_model():
    X, Y = _data(10)
    m = fit_gp(torch.cat([X] * 20), torch.cat([Y] * 20), GPConfig(kernel="linear_truncated", maxiter=20))
    with torch.no_grad():
        assert torch.isfinite(m.posterior(X).mean).all()


def test_failed_fits_fall_back_and_log(monkeypatch, caplog):
    import bomix.surrogate.gp as gp

    calls = []

    def boom(*a, **k):
        calls.append(1)
        raise RuntimeError("cholesky_cpu: U(3,3) is zero, singular U.")

    monkeypatch.setattr(gp, "fit_gpytorch_mll", boom)
    X, Y = _data(12)
    with caplog.at_level(logging.WARNING, logger="bomix.surrogate"):
        m = fit_gp(X, Y, GPConfig(kernel="product"))
    assert len(calls) == 3  # defaults, more jitter, defaults + jitter
    assert "more jitter" in caplog.text and "every fallback" in caplog.text
    with torch.no_grad():
        assert torch.isfinite(m.posterior(X).mean).all()


def test_unknown_kernel_is_rejected():
    with pytest.raises(ValueError, match="unknown kernel"):
        GPConfig(kernel="nope")
