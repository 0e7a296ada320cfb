"""The ``bomix://`` Hydra config source: each group option's typed defaults, read from its constructor.

``conf/config.yaml`` puts ``bomix://`` on its search path and merges ``bomix_defaults/<group>/<option>``
under the option's YAML, so a YAML states only what differs while every constructor argument is a typed
key (``policy.gp.maxiter=40``; an unknown key or a wrong type fails at composition). The node is built
when Hydra asks for it, so only the chosen components are imported (:func:`bomix.config.defaults_node`).
:func:`register_source` makes the scheme known to Hydra (``bomix.config`` calls it on import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from omegaconf import OmegaConf

#: the config group under which the defaults appear (``conf/config.yaml``'s defaults list names it)
ROOT = "bomix_defaults"


def _conf() -> Path:
    from bomix.paths import conf_dir

    return conf_dir()


class BomixDefaultsSource(ConfigSource):
    """``bomix://``: typed defaults of the registered components of :data:`bomix.config.GROUPS`."""

    @staticmethod
    def scheme() -> str:
        return "bomix"

    def _split(self, config_path: str) -> list[str]:
        parts = [p for p in config_path.strip("/").split("/") if p]
        if parts and parts[-1].endswith(".yaml"):
            parts[-1] = parts[-1][: -len(".yaml")]
        return parts

    def _target(self, group: str, option: str) -> Optional[str]:
        """The class the option builds, if the option is registered (reads YAML only: no import)."""
        from bomix.config import GROUPS, PROBLEM_TARGET, registered

        if group not in GROUPS or not (_conf() / group / f"{option}.yaml").is_file():
            return None
        return PROBLEM_TARGET if group == "problem" else registered(group).get(option)

    def load_config(self, config_path: str) -> ConfigResult:
        from bomix.config import defaults_node

        parts = self._split(config_path)
        target = self._target(*parts[1:]) if len(parts) == 3 and parts[0] == ROOT else None
        if target is None:
            raise ConfigLoadError(f"bomix://: no registered component at {config_path}")
        extra = {} if parts[1] == "problem" else {"_target_": target, "name": parts[2]}
        try:
            node = defaults_node(target, extra)
        except (ImportError, AttributeError):  # an optional extra not installed: building it says so
            node = OmegaConf.create({})
        return ConfigResult(config=node, path=f"{self.scheme()}://{self.path}", provider=self.provider, header={"package": None})

    def available(self) -> bool:
        return True

    def is_group(self, config_path: str) -> bool:
        from bomix.config import GROUPS

        parts = self._split(config_path)
        return parts == [ROOT] or (len(parts) == 2 and parts[0] == ROOT and parts[1] in GROUPS)

    def is_config(self, config_path: str) -> bool:
        parts = self._split(config_path)
        return len(parts) == 3 and parts[0] == ROOT and self._target(parts[1], parts[2]) is not None

    def list(self, config_path: str, results_filter: Optional[ObjectType]) -> list[str]:
        from bomix.config import GROUPS

        parts = self._split(config_path)
        if parts == [ROOT]:
            return [] if results_filter == ObjectType.CONFIG else sorted(GROUPS)
        if len(parts) == 2 and parts[0] == ROOT and parts[1] in GROUPS and results_filter != ObjectType.GROUP:
            return sorted(p.stem for p in (_conf() / parts[1]).glob("*.yaml") if self._target(parts[1], p.stem))
        return []


def register_source() -> None:
    """Make ``bomix://`` known to Hydra (idempotent; Hydra's plugin scan does not see an editable install)."""
    from hydra.core.plugins import Plugins

    Plugins.instance().register(BomixDefaultsSource)
