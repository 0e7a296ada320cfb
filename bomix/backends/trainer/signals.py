"""Per-step signals for online controllers, in torch: per-domain losses, reweighted losses,
reference excess, validation on demand and per-domain gradient dots.

Shapes: ``B`` sequences of ``T`` tokens per batch, ``K`` domains, ``P`` trainable parameters.
Every per-domain vector is ``(K,)`` with NaN where a domain is absent from the batch.

The loss of one step is always ``sum_i c_i * m_i`` with ``m_i`` the mean token loss of domain
``i``'s sequences in the batch and ``c`` the controller's
:meth:`bomix.online.Controller.loss_coefficients` (one definition for every host, in
:mod:`bomix.online.normalisers`: the plain token mean, the DoReMi paper's ``domain`` normaliser or
the DoReMi code's ``token`` normaliser).

So the per-domain gradient path (:func:`domain_gradients`) combines sub-batch gradients with the
same ``c`` and produces exactly the gradient of the one-batch path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

def token_losses(model, input_ids, labels):
    """``(B, T)`` per-token cross-entropy (0 where ``labels == -100``) and the ``(B, T)`` bool mask."""
    import torch.nn.functional as F

    logits = model(input_ids=input_ids).logits
    mask = labels != -100
    loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100,
                           reduction="none").view_as(labels)
    return loss * mask, mask


def domain_sums(values, mask, dom, k: int):
    """Per-domain sums of ``(B, T)`` token ``values`` and token counts: two ``(K,)`` tensors."""
    import torch

    seq_sum = (values * mask).sum(1)
    seq_n = mask.sum(1).to(seq_sum.dtype)
    sums = torch.zeros(k, dtype=seq_sum.dtype, device=seq_sum.device).index_add_(0, dom, seq_sum)
    counts = torch.zeros(k, dtype=seq_sum.dtype, device=seq_sum.device).index_add_(0, dom, seq_n)
    return sums, counts


def combined_loss(sums, counts, coef: np.ndarray):
    """Scalar ``sum_i c_i * sums_i / counts_i`` over present domains (``sums``, ``counts``: ``(K,)`` tensors)."""
    import torch

    c = torch.as_tensor(coef, dtype=sums.dtype, device=sums.device)
    return (c * sums / counts.clamp(min=1)).sum()


def excess(tok_loss, ref_tok_loss, mask, dom, k: int) -> np.ndarray:
    """``(K,)`` DoReMi's per-domain mean over tokens of ``max(l - l_ref, 0)`` (NaN where absent)."""
    import torch

    sums, counts = domain_sums(torch.clamp(tok_loss.detach() - ref_tok_loss, min=0.0), mask, dom, k)
    return per_domain_mean(sums, counts)


def per_domain_mean(sums, counts) -> np.ndarray:
    """``(K,)`` numpy ``sums / counts`` with NaN where ``counts == 0``."""
    s = sums.detach().double().cpu().numpy()
    n = counts.detach().double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def val_losses(model, val_batches: Sequence[Sequence], device: str, autocast: Callable) -> np.ndarray:
    """``(K,)`` mean token loss of the model on each domain's list of ``(input_ids, labels)`` batches."""
    import torch

    out = np.zeros(len(val_batches))
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast():
        for i, batches in enumerate(val_batches):
            total, count = 0.0, 0
            for x, y in batches:
                loss, mask = token_losses(model, x.to(device), y.to(device))
                total += float(loss.sum())
                count += int(mask.sum())
            out[i] = total / max(count, 1)
    model.train(was_training)
    return out


def validation_batch(val_batches: Sequence[Sequence], size: int, step: int):
    """``(input_ids, labels)`` of ``size`` validation windows, round-robin over domains, rotating with
    ``step`` (a deterministic function of the step)."""
    import torch

    rows = [torch.cat([x for x, _ in b]) for b in val_batches]
    labs = [torch.cat([y for _, y in b]) for b in val_batches]
    k = len(rows)
    xs, ys = [], []
    for j in range(size):
        d = j % k
        i = (step + j // k) % rows[d].shape[0]
        xs.append(rows[d][i])
        ys.append(labs[d][i])
    return torch.stack(xs), torch.stack(ys)


@dataclass
class DomainGrads:
    """Per-domain gradient facts of one step (numpy)."""

    dots: np.ndarray  # (K,) <g_i, g_val>, NaN where absent
    norms: np.ndarray  # (K,) ||g_i||, NaN where absent
    gram: np.ndarray  # (K, K) <g_i, g_j>, NaN rows/cols where absent
    val_loss: float  # loss of the validation batch


def domain_gradients(model, params: list, x, y, dom, k: int, coef_fn: Callable[[np.ndarray], np.ndarray],
                     val_x, val_y, autocast: Callable):
    """Per-domain sub-batch gradients, one validation gradient, and the step's gradient in ``.grad``.

    For each present domain ``i``: ``g_i`` = gradient of the mean token loss of its sequences.
    ``g_val`` = gradient of the mean token loss of ``(val_x, val_y)``. Leaves
    ``p.grad = sum_i c_i g_i`` with ``c = coef_fn(counts)`` (the gradient of the one-batch loss).

    Args:
        model: the LM (train mode); ``params``: its ``P`` trainable tensors, in a fixed order.
        x, y: ``(B, T)`` batch; ``dom``: ``(B,)`` long domain ids (same device).
        coef_fn: ``(K,) token counts -> (K,)`` coefficients (:mod:`bomix.online.normalisers`).

    Returns:
        ``(tok_loss, mask, sums, counts, DomainGrads)``: the ``(B, T)`` detached token losses and
        mask of the batch, the ``(K,)`` per-domain token-loss sums and token counts (tensors).
    """
    import torch

    device = x.device
    n_par = sum(p.numel() for p in params)
    buf = torch.zeros(k, n_par, dtype=torch.float32, device=device)
    sums = torch.zeros(k, dtype=torch.float32, device=device)
    counts = torch.zeros(k, dtype=torch.float32, device=device)
    tok_all = torch.zeros(y.shape, dtype=torch.float32, device=device)
    mask_all = y != -100
    present = []
    for i in range(k):
        sel = (dom == i).nonzero().flatten()
        if sel.numel() == 0:
            continue
        with autocast():
            tl, mask = token_losses(model, x[sel], y[sel])
        s, n = tl.sum(), mask.sum()
        grads = torch.autograd.grad(s / n.clamp(min=1), params, allow_unused=True)
        buf[i] = _flat(grads, params)
        tok_all[sel] = tl.detach().float()
        sums[i], counts[i] = s.detach().float(), n.float()
        present.append(i)
    with autocast():
        vl, vmask = token_losses(model, val_x, val_y)
    val_loss = vl.sum() / vmask.sum().clamp(min=1)
    g_val = _flat(torch.autograd.grad(val_loss, params, allow_unused=True), params)
    coef = torch.as_tensor(coef_fn(counts.double().cpu().numpy()), dtype=torch.float32, device=device)
    step_grad = coef @ buf
    offset = 0
    for p in params:
        p.grad = step_grad[offset: offset + p.numel()].view_as(p).to(p.dtype).clone()
        offset += p.numel()
    absent = np.ones(k, dtype=bool)
    absent[present] = False
    dots = (buf @ g_val).double().cpu().numpy()
    gram = (buf @ buf.T).double().cpu().numpy()
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    dots[absent], norms[absent] = np.nan, np.nan
    gram[absent, :], gram[:, absent] = np.nan, np.nan
    return tok_all, mask_all, sums, counts, DomainGrads(dots, norms, gram, float(val_loss.detach()))


def _flat(grads, params):
    import torch

    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                      for g, p in zip(grads, params)])
