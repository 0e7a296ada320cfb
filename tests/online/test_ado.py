"""ADO: the power-law fit, and sampling that follows each domain's remaining slope."""

import numpy as np

from bomix.online import build_controller
from bomix.online.ado import fit_power_law
from online_helpers import drive


def test_fit_recovers_a_noise_free_power_law_within_5_percent():
    n = np.geomspace(1e5, 1e9, 200)
    for E, A, a in [(0.5, 3.0, 0.35), (1.2, 5.0, 0.6), (-0.3, 2.0, 0.2)]:
        got = fit_power_law(n, np.exp(E) + np.exp(A) * n ** (-a))
        np.testing.assert_allclose(got, (E, A, a), rtol=0.05)


def test_flat_domain_loses_weight_to_a_learnable_one():
    tokens = np.zeros(2)

    def losses(t, w):
        tokens[:] += w * 64 * 128
        return np.array([1.0 + 20.0 * (tokens[0] + 1e3) ** -0.3, 3.0])  # domain 1: nothing to learn

    ctrl, _ = drive({"kind": "ado", "params": {"start": 200, "refit_every": 200}}, losses, 2000, k=2,
                    counts=lambda t, w: np.round(w * 64) * 128)
    out = ctrl.output()
    assert out["final"][1] < 0.3 and out["final"][0] > out["final"][1]
    assert out["laws"][0] is not None
