"""Online data-mixing controllers shared by every host (trainer, synthetic simulator).

A run carries a :class:`ControllerConfig` in ``RunSpec.controller``; the host builds the controller
with :func:`build_controller` and follows the protocol in :mod:`bomix.online.base` (``weights``,
``loss_weights``, ``wants``, ``observe`` with :class:`Signals`, ``state_dict``, ``output``,
``overhead``); every host's step loop is :func:`bomix.online.host.drive`.
"""

from bomix.online.base import NOTHING, Controller, SignalCosts, Signals, Wants
from bomix.controller_config import ControllerConfig
from bomix.online.registry import CONTROLLERS, build_controller

__all__ = ["CONTROLLERS", "NOTHING", "Controller", "ControllerConfig", "SignalCosts", "Signals", "Wants",
           "build_controller"]
