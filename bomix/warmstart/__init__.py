"""Campaigns that start from earlier ones: a declared domain mapping (:mod:`bomix.warmstart.mapping`) and the
old stores' runs read into the new space (:mod:`bomix.warmstart.reuse`); GP policies model them as other tasks
(:mod:`bomix.surrogate.transfer`)."""

from bomix.warmstart.mapping import WarmStartConfig
from bomix.warmstart.reuse import Reused, load_reused

__all__ = ["Reused", "WarmStartConfig", "load_reused"]
