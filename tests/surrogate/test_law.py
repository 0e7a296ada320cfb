import numpy as np
import pytest
import torch

from bomix.errors import BomixError
from bomix.surrogate.gp import GPConfig, fit_gp
from bomix.surrogate.law import GROUPS, LOG_EPS, LawKernel, law_features


def test_log_terms_add_one_group_of_log_shares():
    X = torch.tensor([[0.5, 0.5, 0.0, 0.2, 1.0]], dtype=torch.double)
    phi, g = law_features(X, 3)
    phi_log, g_log = law_features(X, 3, log_terms=True)
    assert phi_log.shape[-1] == phi.shape[-1] + 3 and torch.equal(phi_log[..., :phi.shape[-1]], phi)
    assert torch.allclose(phi_log[0, -3:], torch.log(torch.tensor([0.5, 0.5, 0.0], dtype=torch.double) + LOG_EPS))
    assert (g_log[-3:] == GROUPS.index("log")).all() and g.max() == GROUPS.index("fidelity")
    assert LawKernel(3, log_terms=True).variance.numel() == len(GROUPS)
    assert LawKernel(3).variance.numel() == len(GROUPS) - 1


def test_shift_groups_start_at_shift_init_and_stay_there_while_unidentified():
    """All data at one fidelity: the shift features are zero there, so the fit cannot move their variances."""
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), 40)
    X = torch.tensor(np.column_stack([w, np.zeros((40, 2))]))
    Y = torch.tensor(-((w - [0.5, 0.3, 0.2]) ** 2).sum(1)).unsqueeze(-1)
    k = LawKernel(3, shift_init=0.01)
    assert torch.allclose(k.variance[[GROUPS.index("scale_shift"), GROUPS.index("step_shift")]],
                          torch.tensor(0.01, dtype=k.variance.dtype))
    m = fit_gp(X, Y, GPConfig(law=True, law_shift_init=0.01, maxiter=40))
    v = m.covar_module.kernels[-1].variance.detach()
    assert torch.allclose(v[[GROUPS.index("scale_shift"), GROUPS.index("step_shift")]],
                          torch.tensor(0.01, dtype=v.dtype), rtol=1e-4)
    # the default start is the middle of the bounds: an unidentified shift then has a far larger prior
    assert float(LawKernel(3).variance.detach()[GROUPS.index("step_shift")]) > 1.0


def test_a_shift_init_outside_the_bounds_is_a_one_line_error():
    with pytest.raises(ValueError, match="law_shift_init must lie inside"):
        GPConfig(law=True, law_shift_init=10.0)
    from bomix.policies.bo import MFBOPolicy

    with pytest.raises(BomixError, match="law_shift_init"):
        MFBOPolicy(gp={"law_shift_init": -1.0})
