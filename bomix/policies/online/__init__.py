"""Online data-mixing methods as policies (controllers from :mod:`bomix.online` inside proxy runs)."""

from bomix.policies.online.base import OnlinePolicy
from bomix.policies.online.reference import ReferencePolicy
from bomix.policies.online.skillit import SkillItPolicy

__all__ = ["OnlinePolicy", "ReferencePolicy", "SkillItPolicy"]
