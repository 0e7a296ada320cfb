"""Per-step signals on a tiny CPU model, each checked against a naive computation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bomix.backends.trainer.model import build_model
from bomix.backends.trainer.signals import (combined_loss, domain_gradients, domain_sums,
                                            excess, per_domain_mean, token_losses, validation_batch)
from bomix.online.normalisers import loss_coefficients

from .conftest import TINY_LADDER

K, B, T, V = 3, 8, 12, 300


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return build_model(TINY_LADDER["m"], V, T, seed=1).train()


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, V, (B, T), generator=g)
    y = torch.randint(0, V, (B, T), generator=g)
    y[0, :3] = -100  # some ignored labels
    dom = torch.tensor([0, 0, 0, 1, 1, 0, 1, 1])  # domain 2 absent
    return x, y, dom


def _flat_grad(model, loss):
    params = [p for p in model.parameters()]
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


def test_per_domain_train_losses_and_counts(model, batch):
    x, y, dom = batch
    tl, mask = token_losses(model, x, y)
    sums, counts = domain_sums(tl, mask, dom, K)
    means = per_domain_mean(sums, counts)
    for i in range(2):
        sel = dom == i
        assert counts[i].item() == mask[sel].sum().item()
        assert means[i] == pytest.approx((tl[sel].sum() / mask[sel].sum()).item(), rel=1e-6)
    assert counts[2].item() == 0 and np.isnan(means[2])
    # no loss weights: the plain token mean
    plain = combined_loss(sums, counts, loss_coefficients(counts.numpy(), None))
    assert plain.item() == pytest.approx((tl.sum() / mask.sum()).item(), rel=1e-6)


def test_doremi_normalisers(model, batch):
    x, y, dom = batch
    tl, mask = token_losses(model, x, y)
    sums, counts = domain_sums(tl, mask, dom, K)
    lw = np.array([0.2, 0.5, 0.3])
    sampling = np.array([0.5, 0.25, 0.25])
    # paper: sum_i lw_i * mean token loss of domain i (absent domains contribute 0)
    paper = combined_loss(sums, counts, loss_coefficients(counts.numpy(), lw, "domain"))
    want = sum(lw[i] * (tl[dom == i].sum() / mask[dom == i].sum()).item() for i in range(2))
    assert paper.item() == pytest.approx(want, rel=1e-6)
    # code: per-token weights (lw / sampling)[d], normalised by their sum over the batch's tokens
    code = combined_loss(sums, counts, loss_coefficients(counts.numpy(), lw, "token", sampling))
    u = torch.tensor(lw / sampling, dtype=torch.float32)[dom][:, None].expand_as(tl) * mask
    assert code.item() == pytest.approx(((u * tl).sum() / u.sum()).item(), rel=1e-6)
    assert abs(paper.item() - code.item()) > 1e-3  # they are different objectives
    with pytest.raises(ValueError, match="normaliser"):
        loss_coefficients(counts.numpy(), lw, "bogus")


def test_reference_excess_is_per_token_clipped(model, batch):
    x, y, dom = batch
    ref = build_model(TINY_LADDER["s"], V, T, seed=7).eval()
    tl, mask = token_losses(model, x, y)
    with torch.no_grad():
        rl, _ = token_losses(ref, x, y)
    ex = excess(tl, rl, mask, dom, K)
    for i in range(2):
        sel = dom == i
        d = torch.clamp(tl[sel] - rl[sel], min=0) * mask[sel]
        assert ex[i] == pytest.approx((d.sum() / mask[sel].sum()).item(), rel=1e-5)
        # clipping per token differs from clipping the mean difference
        assert ex[i] >= per_domain_mean(*domain_sums(tl - rl, mask, dom, K))[i] - 1e-6
    assert np.isnan(ex[2])


@pytest.mark.parametrize("normaliser", ["plain", "domain", "token"])
def test_domain_gradient_dots_equal_naive_dots(model, batch, normaliser):
    x, y, dom = batch
    vx, vy = torch.randint(0, V, (4, T)), torch.randint(0, V, (4, T))
    lw = None if normaliser == "plain" else np.array([0.7, 0.2, 0.1])
    sampling = np.array([0.4, 0.4, 0.2])

    def coef_fn(n):
        return loss_coefficients(n, lw, "domain" if lw is None else normaliser, sampling)

    naive_model = copy.deepcopy(model)
    params = [p for p in model.parameters() if p.requires_grad]
    _, _, sums, counts, g = domain_gradients(model, params, x, y, dom, K, coef_fn, vx, vy, lambda: _null())
    step_grad = torch.cat([p.grad.reshape(-1) for p in params])

    # naive: each domain's gradient separately, from its own sub-batch, on an untouched copy
    tl_v, m_v = token_losses(naive_model, vx, vy)
    g_val = _flat_grad(naive_model, tl_v.sum() / m_v.sum())
    g_dom = {}
    for i in range(2):
        sel = dom == i
        tl_i, m_i = token_losses(naive_model, x[sel], y[sel])
        g_dom[i] = _flat_grad(naive_model, tl_i.sum() / m_i.sum())
        assert g.dots[i] == pytest.approx(float(g_dom[i] @ g_val), rel=1e-4, abs=1e-7)
        assert g.norms[i] == pytest.approx(float(g_dom[i].norm()), rel=1e-4)
    assert g.gram[0, 1] == pytest.approx(float(g_dom[0] @ g_dom[1]), rel=1e-4, abs=1e-7)
    assert np.isnan(g.dots[2]) and np.isnan(g.norms[2])
    # the step's gradient is the one-batch gradient of the same (reweighted) loss
    tl, mask = token_losses(naive_model, x, y)
    s_, n_ = domain_sums(tl, mask, dom, K)
    full = _flat_grad(naive_model, combined_loss(s_, n_, coef_fn(n_.detach().numpy())))
    torch.testing.assert_close(step_grad, full, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(sums, s_.detach(), rtol=1e-5, atol=1e-5)


def test_validation_batch_round_robin_and_deterministic():
    val = [[(torch.full((2, T), 10 * d + i), torch.full((2, T), 10 * d + i)) for i in range(2)] for d in range(K)]
    x, y = validation_batch(val, 7, step=3)
    assert x.shape == (7, T)
    doms = (x[:, 0] // 10).tolist()
    assert doms == [0, 1, 2, 0, 1, 2, 0]
    torch.testing.assert_close(validation_batch(val, 7, step=3)[0], x)
    assert not torch.equal(validation_batch(val, 7, step=4)[0], x)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
