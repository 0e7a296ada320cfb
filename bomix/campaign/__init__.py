"""Campaigns: one ledger under one loop.

- :mod:`~bomix.campaign.problem`: :class:`ProblemConfig`, :func:`build_problem` (the policy-facing problem).
- :mod:`~bomix.campaign.checks`: every check a spec or result passes, the config hash and stored meta.
- :mod:`~bomix.campaign.ledger`: :class:`Ledger`, the only writer of runs and of ``History``.
- :mod:`~bomix.campaign.loop`: :class:`Campaign` (ledger + executor + stop conditions), :func:`run_campaign`.
- :mod:`~bomix.campaign.report`: recommendations, progress and the summary of a campaign.

The ask/tell :class:`bomix.study.Study` is the other loop over the same ledger.
"""

from bomix.campaign.checks import config_hash
from bomix.campaign.ledger import Ledger
from bomix.campaign.loop import Campaign, run_campaign
from bomix.campaign.problem import ProblemConfig, build_problem
from bomix.layout import SUMMARY_FILE

__all__ = ["SUMMARY_FILE", "Campaign", "Ledger", "ProblemConfig", "build_problem", "config_hash", "run_campaign"]
