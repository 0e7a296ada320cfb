"""The public bench API in one import (used by ``benchmarks/`` scripts and documented in benchmarks/README.md).

Each name lives in the module of its job: loading campaign directories (:mod:`bomix.bench.loading`),
regret-vs-cost curves (:mod:`bomix.bench.curves`), cost to reach eps and speedups
(:mod:`bomix.bench.reach`), the final table and the whole summary (:mod:`bomix.bench.tables`).
"""

from __future__ import annotations

from bomix.bench.curves import regret_curves
from bomix.bench.loading import load_campaigns
from bomix.bench.reach import cost_to_reach, speedups
from bomix.bench.tables import summarize

__all__ = ["cost_to_reach", "load_campaigns", "regret_curves", "speedups", "summarize"]
