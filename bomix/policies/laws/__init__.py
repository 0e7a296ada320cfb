"""One policy per mixing law (see :mod:`bomix.laws`): a prescribed design, a fit, the law's optimum."""

from bomix.policies.laws.autoscale import AutoScalePolicy
from bomix.policies.laws.base import LawPolicy
from bomix.policies.laws.bimix import BiMixPolicy
from bomix.policies.laws.dcpt import DCPTPolicy
from bomix.policies.laws.dml import DMLPolicy
from bomix.policies.laws.regmix import RegMixPolicy
from bomix.policies.laws.sft import SFTLawPolicy
from bomix.policies.laws.shukor import ShukorPolicy

__all__ = ["LawPolicy", "AutoScalePolicy", "BiMixPolicy", "DCPTPolicy", "DMLPolicy", "RegMixPolicy",
           "SFTLawPolicy", "ShukorPolicy"]
