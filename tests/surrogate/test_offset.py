import numpy as np
import torch

from bomix.acquisition.analytic import contrast
from bomix.surrogate.gp import GPConfig, fit_gp
from bomix.surrogate.offset import FidelityOffsetKernel

torch.set_num_threads(1)


def test_offset_kernel_links_only_points_at_the_same_fidelity():
    k = FidelityOffsetKernel()
    x = torch.tensor([[0.2, 0.8, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.2, 0.8, 0.5, 0.0], [0.2, 0.8, 0.0, 1.0]],
                     dtype=torch.double)
    K = k(x, x).to_dense()
    v = float(k.variance)
    same = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.double)
    assert torch.allclose(K, v * same)
    assert torch.allclose(k(x, x, diag=True), torch.full((4,), v, dtype=torch.double))


def _levels(n: int, scales, seed: int):
    """Two domains; each fidelity has its own level (nats apart), the mixture effect is shared."""
    rng = np.random.default_rng(seed)
    w1 = rng.uniform(0, 1, n)
    s = rng.choice(scales, n)
    level = {0.0: 6.0, 0.5: 4.0, 1.0: 2.5}
    y = np.array([level[v] for v in s]) + 0.3 * (w1 - 0.7) ** 2
    X = torch.tensor(np.column_stack([w1, 1 - w1, s, np.zeros(n)]), dtype=torch.double)
    return X, -torch.tensor(y, dtype=torch.double).unsqueeze(-1)


def test_offset_model_leaves_an_unrun_fidelity_level_unknown_and_contrasts_cancel_it():
    X, Y = _levels(60, [0.0, 0.5], seed=0)
    m = fit_gp(X, Y, GPConfig(kernel="product", law=True, offset=True, maxiter=60))
    a = torch.tensor([[0.7, 0.3, 1.0, 0.0]], dtype=torch.double)   # the optimum at the unrun scale 1.0
    b = torch.tensor([[0.1, 0.9, 1.0, 0.0]], dtype=torch.double)
    with torch.no_grad():
        sd_plain = float(m.posterior(b).variance.sqrt())
        mean, sd = contrast(m, b, a[0])
    assert float(sd) < 0.5 * sd_plain  # the unknown level is shared by a and b
    assert float(mean) < 0  # b is worse than a: the shape transferred from the cheap scales
    truth = -0.3 * (0.1 - 0.7) ** 2
    assert abs(float(mean) - truth) < 2 * float(sd) + 0.02


def test_contrast_is_the_difference_of_a_joint_posterior():
    X, Y = _levels(8, [0.0, 0.5], seed=1)
    m = fit_gp(X, Y, GPConfig(kernel="product", maxiter=30))
    W = torch.tensor([[0.2, 0.8, 0.5, 0.0], [0.9, 0.1, 0.0, 0.0]], dtype=torch.double)
    ref = torch.tensor([0.5, 0.5, 0.5, 0.0], dtype=torch.double)
    with torch.no_grad():
        mean, sd = contrast(m, W, ref)
        for i in range(2):
            post = m.posterior(torch.stack([W[i], ref]))
            c = post.mvn.covariance_matrix
            assert torch.isclose(mean[i], post.mean[0, 0] - post.mean[1, 0])
            # a posterior variance can come out a little below zero in floating point: the contrast's sd is
            # then ~0 (clamped), as is the reference's
            var = (c[0, 0] + c[1, 1] - 2 * c[0, 1]).clamp_min(0)
            assert torch.isclose(sd[i], var.sqrt(), rtol=1e-3, atol=1e-4), (sd[i], c)
        _, sd_ref = contrast(m, ref[None], ref)
    assert float(sd_ref) <= 1e-6
