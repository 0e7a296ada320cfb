"""Online data mixing inside your own trainer: :class:`MixedIterableDataset` (per-domain datasets mixed by
a bomix controller), :class:`MixtureHook` (any loop), with ``transformers`` installed
:class:`BomixMixtureCallback` (import it from :mod:`bomix.integrations.hf`) and, with ``lightning`` installed,
:class:`BomixLightningCallback` (from :mod:`bomix.integrations.lightning`)."""

from bomix.integrations.dataset import MixedIterableDataset
from bomix.integrations.loop import MixtureHook, causal_token_losses

__all__ = ["MixedIterableDataset", "MixtureHook", "causal_token_losses"]
