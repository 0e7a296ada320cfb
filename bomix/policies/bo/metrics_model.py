"""A GP policy's model of a many-metric objective from one GP per metric (``policy.metrics_model: independent``).

Each metric of the objective gets its own GP on the history's observations of that metric (its own noise level,
lengthscales and amplitude), fitted as the policy fits its one GP (same ``gp`` settings, the same subsample and
fallbacks), and :class:`bomix.surrogate.aggregate.AggregateModel` combines them into the objective's posterior.
Warm starts and frozen hyperparameters work per metric: a decision stores the aggregate's parameters
(``models.<j>.<name>``), the next fit of metric ``j`` starts from its part.
"""

from __future__ import annotations

from collections.abc import Callable

from bomix.history import History
from bomix.objective import Objective
from bomix.surrogate.aggregate import AggregateModel
from bomix.surrogate.fit import warm_start
from bomix.surrogate.gp import GPConfig, fit_gp
from bomix.surrogate.observations import ObservationEncoder

#: the options of ``policy.metrics_model``
METRICS_MODELS = ("scalar", "independent")


def fit_metric_models(encoder: ObservationEncoder, history: History, cfg: GPConfig, frozen: bool = False,
                      on_fallback: Callable[[str], None] | None = None) -> AggregateModel | None:
    """The objective's model from one GP per metric (None when a metric has fewer than 2 observations)."""
    objective = history.objective
    coef, offset = objective.coefficients()
    warm = warm_start(history) or {}
    models = []
    for j, metric in enumerate(objective.metrics):
        obs = encoder.observations(history, objective=Objective.metric(metric))
        if len(obs) < 2:
            return None
        X, Y = encoder.tensors(obs)  # Y = -metric (the GP maximises)
        prefix = f"models.{j}."
        part = {k[len(prefix):]: v for k, v in warm.items() if k.startswith(prefix)} or None
        models.append(fit_gp(X, Y, cfg, warm=part, frozen=frozen, on_fallback=on_fallback, seed=len(history.results)))
    # Y = -value = -offset - sum_m c_m metric_m = -offset + sum_m c_m (-metric_m)
    return AggregateModel(models, [coef[m] for m in objective.metrics], offset)
