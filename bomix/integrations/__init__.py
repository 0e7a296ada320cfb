"""Online data mixing inside your own trainer: :class:`MixedIterableDataset` (per-domain datasets mixed by
a bomix controller), :class:`MixtureHook` (any loop) and, with ``transformers`` installed,
:class:`BomixMixtureCallback` (import it from :mod:`bomix.integrations.hf`)."""

from bomix.integrations.dataset import MixedIterableDataset
from bomix.integrations.loop import MixtureHook, causal_token_losses

__all__ = ["MixedIterableDataset", "MixtureHook", "causal_token_losses"]
