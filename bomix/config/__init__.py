"""Configs: which components may be built and how (:mod:`~bomix.config.build`), their typed options with
every default stated once, in the constructor (:mod:`~bomix.config.schema`), and which keys define a
campaign's results (:mod:`~bomix.config.identity`)."""

from bomix.config.build import (
    ALLOW_ENV, GROUPS, META_KEYS, RESERVED_KEYS, allowed, check_data, group_target, instantiate, registered,
)
from bomix.config.identity import OPERATIONAL_KEYS, config_diff, fingerprint, normalized
from bomix.config.resolvers import register_resolvers
from bomix.config.source import register_source
from bomix.config.schema import PROBLEM_TARGET, defaults, defaults_node, import_target, schema, typed_options

__all__ = [
    "ALLOW_ENV", "GROUPS", "META_KEYS", "OPERATIONAL_KEYS", "PROBLEM_TARGET", "RESERVED_KEYS", "allowed",
    "check_data", "config_diff", "defaults", "defaults_node", "fingerprint", "group_target", "import_target",
    "instantiate", "normalized", "register_resolvers", "register_source", "registered", "schema", "typed_options",
]

register_resolvers()  # conf/ uses them; composing conf/ with Hydra's own compose() must find them
register_source()  # conf/config.yaml's search path names bomix://
