"""Earlier campaigns' tasks in the GP: the transfer mean, the old tasks' fit, and the choice with/without them."""

import copy

import numpy as np
import torch

from bomix.surrogate.gp import GPConfig, fit_gp
from bomix.surrogate.transfer import TransferMean, fit_transfer, prefer, subsample, uses_transfer
from bomix.history import Observations

torch.set_num_threads(1)
CFG = GPConfig(maxiter=30)


def f(X: torch.Tensor) -> torch.Tensor:
    """A smooth objective over ``n x 4`` inputs (2 weights-like columns, s, t): ``n x 1``."""
    return (torch.sin(3 * X[:, :1]) + X[:, 1:2] ** 2 - 0.5 * X[:, 2:3]).to(torch.double)


def data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 4, generator=g, dtype=torch.double)


def test_transfer_mean_is_constant_plus_rho_times_feature():
    m = TransferMean([lambda x: x[..., 0] * 2.0])
    with torch.no_grad():
        m.constant.fill_(0.5)
    m.rho = torch.tensor([1.5])
    x = torch.rand(4, 3, 2, dtype=torch.double)
    torch.testing.assert_close(m(x), 0.5 + 3.0 * x[..., 0])
    c = copy.deepcopy(m)
    torch.testing.assert_close(c(x), m(x))
    assert c.raw_rho is not m.raw_rho
    assert float(m.rho.detach()) > 0 and [k for k, _ in m.named_parameters()] == ["constant", "raw_rho"]


def test_related_old_task_is_used_and_unrelated_one_declined():
    Xn = data(8, 0)
    Yn = f(Xn)
    Xo = data(60, 1)
    related = fit_transfer(Xo, f(Xo), np.ones(60, dtype=int), CFG)
    noise = torch.randn(60, 1, generator=torch.Generator().manual_seed(3), dtype=torch.double)
    unrelated = fit_transfer(Xo, noise, np.ones(60, dtype=int), CFG)
    plain = fit_gp(Xn, Yn, CFG)
    model, used = prefer(fit_gp(Xn, Yn, CFG, prior=related), plain, 1)
    assert used and isinstance(model.mean_module, TransferMean) and float(model.mean_module.rho.detach()) > 0.3
    model, used = prefer(fit_gp(Xn, Yn, CFG, prior=unrelated), plain, 1)
    assert not used and model is plain


def test_feature_is_the_old_values_on_the_old_runs_and_shrinks_away_from_them(monkeypatch):
    import bomix.surrogate.transfer as transfer

    Xo = data(40, 1) * 0.2  # old runs only near the origin
    Yo = f(Xo) * 10
    prior = fit_transfer(Xo, Yo, np.ones(40, dtype=int), CFG)
    z_obs = (Yo - Yo.mean()) / Yo.std()
    feat, model = prior.features[0], None
    far_x = torch.ones(5, 4, dtype=torch.double) * 5.0
    with torch.no_grad():
        torch.testing.assert_close(feat(Xo), z_obs.squeeze(-1), atol=0.1, rtol=0.1)  # on its runs: their values
        far = feat(far_x)
    # the old GP's own standardised mean there (a long-lengthscale trend) is shrunk by r < 1
    model = fit_gp(Xo, Yo, CFG)
    with torch.no_grad():
        raw = model(far_x).mean / model.train_targets.std()
    assert (far.abs() < 0.5 * raw.abs()).all()
    monkeypatch.setattr(transfer, "CLAMP_MARGIN", 0.0)  # clipped: never beyond the old observations' range
    clipped = fit_transfer(Xo, Yo, np.ones(40, dtype=int), CFG).features[0]
    with torch.no_grad():
        assert clipped(far_x).abs().max() <= z_obs.abs().max() + 1e-9


def test_uses_transfer_reads_stored_hypers():
    assert uses_transfer({"mean_module.raw_rho": [0.1], "mean_module.constant": [0.0]})
    assert not uses_transfer({"mean_module.raw_constant": [0.0]})


def test_subsample_keeps_last_checkpoint_and_caps_rows():
    obs = Observations(w=np.zeros((10, 2)), scales=np.array(["a"] * 10, dtype=object),
                       steps=np.arange(1, 11) * 100, y=np.zeros(10), run_ids=np.array(["r"] * 10, dtype=object),
                       final=np.arange(10) == 9)
    keep = subsample(obs, 3, min_step=150, max_obs=100)
    assert keep.sum() == 3 and keep[9] and not keep[0]
    assert subsample(obs, 3, min_step=0, max_obs=1).tolist() == [False] * 9 + [True]
