"""A framework-agnostic hook: call ``hook.step(model, batch)`` after each optimiser step of your own loop
to feed a :class:`MixedIterableDataset`, or :meth:`MixtureHook.attach` it to the model (every training
forward's logits are split by domain) and :meth:`MixtureHook.flush` it at each step end, as the Hugging Face
callback (:mod:`bomix.integrations.hf`) and the Lightning callback (:mod:`bomix.integrations.lightning`) do.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bomix.errors import BomixError
from bomix.integrations.dataset import MixedIterableDataset, token_sums


def causal_token_losses(logits, labels):
    """``(B, T-1)`` next-token cross-entropy of a causal LM (labels shifted as Hugging Face does) and its mask."""
    import torch.nn.functional as F

    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    mask = labels != -100
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100,
                           reduction="none").view_as(labels)
    return loss.detach() * mask, mask


def mix_logs(dataset: MixedIterableDataset) -> dict[str, float]:
    """``{"mix/<domain>": weight}``: the dataset's current weights as the callbacks log them."""
    return {f"mix/{d}": round(float(w), 6) for d, w in zip(dataset.domains, dataset.weights)}


def forward_signals(f_args, f_kwargs, output):
    """``(input_ids, labels or None, logits)`` of one forward call (see :meth:`MixtureHook.attach`)."""
    ids, labels = f_kwargs.get("input_ids", f_args[0] if f_args else None), f_kwargs.get("labels")
    if isinstance(ids, Mapping):  # forward(batch)
        ids, labels = ids.get("input_ids"), ids.get("labels", labels)
    if isinstance(output, Mapping) and "logits" in output:
        logits = output["logits"]
    else:
        logits = getattr(output, "logits", output)
    if ids is None or not hasattr(ids, "shape") or not hasattr(logits, "ndim") or logits.ndim != 3:
        raise BomixError(f"the hooked forward must take input_ids and return logits (B, T, V), got "
                         f"{type(output).__name__} (hook the module that computes the LM logits)")
    return ids, labels, logits


class MixtureHook:
    """Feeds per-domain losses of each training batch to a :class:`MixedIterableDataset`.

    Args:
        dataset: the dataset the batches come from (in order, unshuffled, ``num_workers=0``).
        reference_model: a frozen model for DoReMi's model reference (forwarded on the same batch).
    """

    def __init__(self, dataset: MixedIterableDataset, reference_model=None):
        if not isinstance(dataset, MixedIterableDataset):
            raise BomixError("MixtureHook needs the MixedIterableDataset the batches come from")
        if dataset.needs_reference and reference_model is None:
            raise BomixError(f"controller {dataset.controller.kind!r} with a model reference needs reference_model=")
        self.dataset, self.reference_model = dataset, reference_model
        self._reset()

    def _reset(self):
        k = self.dataset.k
        self._sums, self._counts = np.zeros(k), np.zeros(k)
        self._ex = np.zeros(k) if self.reference_model is not None else None
        self.rows = 0  # rows accumulated since the last flush

    def accumulate(self, input_ids, labels, logits) -> None:
        """Add one (micro-)batch: rows in the order the dataset yielded them."""
        import torch

        domains = self.dataset.take_domains(int(input_ids.shape[0]))
        tok, mask = causal_token_losses(logits, labels if labels is not None else input_ids)
        ref_tok = None
        if self.reference_model is not None:
            with torch.no_grad():
                ref_logits = self.reference_model(input_ids=input_ids).logits
            ref_tok, _ = causal_token_losses(ref_logits, labels if labels is not None else input_ids)
        sums, counts, ex = token_sums(tok, mask, domains, self.dataset.k, ref_tok)
        self._sums += sums
        self._counts += counts
        self.rows += int(input_ids.shape[0])
        if ex is not None:
            self._ex += ex

    def attach(self, model):
        """Accumulate every training forward of ``model`` (``module.training`` and grad enabled: evaluation
        forwards are skipped); returns the hook's handle (``.remove()`` it when training ends).

        The forward takes ``input_ids`` (keyword, or first positional argument; or a batch mapping with
        ``input_ids`` and optional ``labels``) and returns logits ``(B, T, V)``: a tensor, a mapping with
        ``logits`` or an object with ``.logits`` (Hugging Face). The reference model, if any, is frozen and
        moved to the model's device."""
        ref = self.reference_model
        if ref is not None:
            ref.eval().requires_grad_(False)
            param = next(iter(model.parameters()), None)
            if param is not None:
                ref.to(param.device)

        def forward_hook(module, f_args, f_kwargs, output):
            import torch

            if not module.training or not torch.is_grad_enabled():
                return None
            self.accumulate(*forward_signals(f_args, f_kwargs, output))
            return None

        return model.register_forward_hook(forward_hook, with_kwargs=True)

    def flush(self) -> np.ndarray:
        """Feed the accumulated step to the controller; returns the new weights."""
        with np.errstate(invalid="ignore", divide="ignore"):
            n = self._counts
            means = np.where(n > 0, self._sums / np.maximum(n, 1), np.nan)
            ex = None if self._ex is None else np.where(n > 0, self._ex / np.maximum(n, 1), np.nan)
        self._reset()
        return self.dataset.observe(means, n, excess=ex)

    def step(self, model, batch, logits=None) -> np.ndarray:
        """One optimiser step's batch (a dict with ``input_ids``, optional ``labels``); ``logits`` from your
        forward pass if you have them, else a no-grad forward. Returns the new weights."""
        import torch

        if logits is None:
            with torch.no_grad():
                logits = model(input_ids=batch["input_ids"]).logits
        self.accumulate(batch["input_ids"], batch.get("labels"), logits)
        return self.flush()
