"""MFMS simulator: reproduces the authors' MLP, curves, costs, optimum (needs ../shared/data/mfms)."""

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.runs import RunSpec
from bomix.space import Fidelity

mfms = pytest.importorskip("bomix.backends.mfms")

try:
    BACKEND = mfms.MFMSBackend()
except BomixError:  # pragma: no cover - the data lives beside the checkout
    BACKEND = None
needs_data = pytest.mark.skipif(BACKEND is None, reason="../shared/data/mfms not found")


def direct_forward(x9: np.ndarray) -> np.ndarray:
    """An independent float32 forward pass written from SOURCE.md (mask applied after normalising)."""
    z = np.load(mfms.default_path() / mfms.WEIGHTS_FILE, allow_pickle=False)
    h = ((x9 - z["norm_X_mean"]) / z["norm_X_std"])[:, z["feature_mask"]].astype(np.float32)
    for i in (0, 3, 6):
        h = np.maximum(h @ z[f"layers_{i}_weight"].T + z[f"layers_{i}_bias"], 0)
    return (h @ z["layers_9_weight"].T + z["layers_9_bias"]) * z["norm_y_std"] + z["norm_y_mean"]


@needs_data
def test_reproduces_direct_forward_pass():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(5), 6)
    sizes = np.array([20, 60, 150, 500, 700, 1000.0])
    steps = np.array([100, 1000, 5000, 9000, 15000, 19500.0])
    x9 = np.column_stack([w, sizes, np.full(6, 999.0), np.full(6, 16.0), steps])  # d_model, heads are masked
    np.testing.assert_allclose(BACKEND.predict(w, sizes, steps), direct_forward(x9), rtol=1e-4, atol=1e-4)


@needs_data
def test_run_curve_cost_and_truth():
    sp = BACKEND.space
    spec = RunSpec(sp.center(), "150M", 6000, seed=0)
    res = BACKEND.run(spec)
    assert res.curve.steps[0] == 100 and res.curve.steps[-1] == 6000 and len(res.curve) == 60
    assert set(res.curve.metrics) == set(mfms.METRICS)
    assert res.curve.final()["ce_stackexchange"] == pytest.approx(
        BACKEND.true_value(sp.center(), Fidelity("150M", 6000), BACKEND.default_objective))
    # relative per-step cost vs 1B as in the paper's table
    assert BACKEND.cost_model("20M", 100) / BACKEND.cost_model("1B", 100) == pytest.approx(0.0130, abs=2e-4)
    assert BACKEND.cost_model("1B", 19500) == pytest.approx(1.0)


@needs_data
def test_optimum_moves_with_scale_and_sits_on_boundary():
    obj = BACKEND.default_objective
    small, v_small = BACKEND.optimum(obj, Fidelity("20M", 19500))
    big, v_big = BACKEND.optimum(obj)
    book = mfms.DOMAINS.index("book")
    assert small.weights[book] > 0.25 and big.weights[book] < 0.05  # ~0.32 at 20M -> ~0.01 at 1B
    assert (big.weights == 0).any()
    rng = np.random.default_rng(1)
    W = rng.dirichlet(np.ones(5), 5000)
    assert v_big <= obj.values(BACKEND.metrics_at(W, "1B", 19500)).min() + 1e-9


@needs_data
def test_noise_is_seeded():
    b = mfms.MFMSBackend(noise=0.02, seed=3)
    spec = RunSpec(b.space.center(), "20M", 1000, seed=4)
    a1, a2 = b.run(spec).curve.metrics["piqa"], b.run(spec).curve.metrics["piqa"]
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, BACKEND.run(spec).curve.metrics["piqa"])


def test_missing_path_is_one_line_error(tmp_path):
    with pytest.raises(BomixError, match="backend.path"):
        mfms.MFMSBackend(path=str(tmp_path))


@needs_data
def test_true_values_is_true_value_per_row():
    sp, obj, fid = BACKEND.space, BACKEND.default_objective, Fidelity("60M", 6000)
    W = np.random.default_rng(1).dirichlet(np.ones(5), 7)
    np.testing.assert_allclose(BACKEND.true_values(W, fid, obj),
                               [BACKEND.true_value(sp.mixture(w), fid, obj) for w in W], rtol=1e-12)
