"""The OmegaConf resolvers that ``conf/`` uses (registered on import of :mod:`bomix.config`)."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from bomix.config.build import allowed
from bomix.config.identity import OPERATIONAL_KEYS
from bomix.config.schema import defaults


def _from_problem(path: str, *, _parent_: Any) -> Any:
    """``${bomix.from_problem:trainer.lr}``: the problem's setting if it has one, else the default of
    the node's own ``_target_`` for the last key (here TrainerBackend's ``lr``)."""
    root = _parent_._get_root()
    value = OmegaConf.select(root, f"problem.{path}", default=None)
    if value is not None:
        return value
    target, group = _parent_.get("_target_"), _parent_._key()
    if not target or not allowed(str(target), str(group)):  # never import a target nobody registered
        return None
    return defaults(str(target)).get(path.rpartition(".")[2])


def register_resolvers() -> None:
    """OmegaConf resolvers used by conf/ (idempotent)."""
    if not OmegaConf.has_resolver("bomix.from_problem"):
        OmegaConf.register_new_resolver("bomix.from_problem", _from_problem)
    if not OmegaConf.has_resolver("bomix.operational_keys"):  # sweep directory names leave these out
        OmegaConf.register_new_resolver(
            "bomix.operational_keys", lambda: [k for k in OPERATIONAL_KEYS if "." not in k and k != "hydra"])
