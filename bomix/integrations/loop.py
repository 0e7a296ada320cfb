"""A framework-agnostic hook: call ``hook.step(model, batch)`` after each optimiser step of your own loop
(or from a Lightning module's ``on_train_batch_end``) to feed a :class:`MixedIterableDataset`.

Lightning's own ``Callback`` is not shipped: ``lightning`` is not a dependency of bomix, and this hook is
all such a callback would do.
"""

from __future__ import annotations

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
        if ex is not None:
            self._ex += ex

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
