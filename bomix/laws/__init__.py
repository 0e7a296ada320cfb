"""Classical data-mixing laws as a public API, usable without a campaign.

Every law has ``fit(table, ...)`` on the logged-run long format of :meth:`bomix.history.History.table`
(``run_id, scale, params, step, w:<domain>..., m:<metric>...``; each class documents the columns it
uses), ``predict(mixtures, ...)``, ``optimum(...) -> Mixture`` and ``from_params(...)``.
"""

from bomix.laws.autoscale import AutoScale
from bomix.laws.bimix import BiMix
from bomix.laws.dcpt import DCPTLaw, dcpt_optimum_ratio
from bomix.laws.dml import MixingLaw, PowerLaw, nested_extrapolate
from bomix.laws.regmix import RegMix, design_prior, sample_design
from bomix.laws.sft import SFTTransferLaw
from bomix.laws.shukor import ShukorLaw

__all__ = [
    "AutoScale", "BiMix", "DCPTLaw", "dcpt_optimum_ratio", "MixingLaw", "PowerLaw", "nested_extrapolate",
    "RegMix", "design_prior", "sample_design", "SFTTransferLaw", "ShukorLaw",
]
