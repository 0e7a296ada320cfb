"""Optional loggers for campaigns (and the runs they train): TensorBoard, Weights & Biases. Off by default.

``bomix run logger=tensorboard`` (or ``logger=wandb``) writes every finished run's learning curve
(``run/<run_id>/<metric>`` against training steps) and the campaign's progress (``campaign/...``
against the number of finished runs: budget used, the run's objective, the recommendation's true
value and regret on simulators) next to the store.
"""

from bomix.loggers.base import Logger, MultiLogger, NullLogger

__all__ = ["Logger", "MultiLogger", "NullLogger"]
