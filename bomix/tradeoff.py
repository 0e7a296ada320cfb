"""Trade-offs: a problem's 2-4 named objectives and the preference that picks one mixture from their Pareto set.

Config (``problem.objectives``, a list; each entry an objective as :meth:`bomix.objective.Objective.from_config`
reads it, with a ``name``; ``problem.preference``, optional, objective name -> weight >= 0):

    objectives:
      - {name: code, maximize: "task:0"}
      - {name: web, metric: "task:1"}
    preference: {code: 0.7, web: 0.3}

The recommendation for a preference (:func:`preferred`) is the member of the predicted Pareto set nearest the ideal
point by the weighted Chebyshev distance on range-normalised values,

    argmin_i  max_m p_m z_im + AUGMENT * sum_m z_im,      z_im = (y_im - min_i y_im) / (max_i y_im - min_i y_im)

(``p`` the preference normalised to sum to 1, equal weights by default; ``y`` lower is better). Chebyshev reaches
every Pareto-optimal point, also on a non-convex front, which a weighted sum does not; a larger ``p_m`` asks for a
mixture nearer objective ``m``'s best. The augmentation term (unweighted, so it also counts an objective of weight 0)
breaks ties toward a point that no other dominates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.objective import Objective, finite_number

#: A trade-off has this many objectives at least / at most.
MIN_OBJECTIVES, MAX_OBJECTIVES = 2, 4
#: Weight of the weighted-sum term that breaks Chebyshev ties (see the module docstring).
AUGMENT = 1e-3


def parse_objectives(cfg: Any, available: Sequence[str] | None = None) -> tuple[Objective, ...]:
    """``problem.objectives`` (None or a list of 2-4 named objective mappings) -> objectives (``()`` for None).

    Raises:
        BomixError: one line naming the bad entry (not a list, too few or many, no or a repeated name, a bad
            objective mapping, an unknown metric).
    """
    if cfg is None:
        return ()
    if isinstance(cfg, (str, bytes, Mapping)) or not isinstance(cfg, Sequence):
        raise BomixError(f"problem.objectives must be a list of {MIN_OBJECTIVES}-{MAX_OBJECTIVES} objectives like "
                         f"{{name: code, maximize: 'task:0'}}, got {cfg!r}")
    if not MIN_OBJECTIVES <= len(cfg) <= MAX_OBJECTIVES:
        raise BomixError(f"problem.objectives needs {MIN_OBJECTIVES} to {MAX_OBJECTIVES} objectives, got {len(cfg)}: "
                         "a single objective goes in problem.objective")
    out: list[Objective] = []
    for i, entry in enumerate(cfg):
        where = f"problem.objectives[{i}]"
        if not isinstance(entry, Mapping):
            raise BomixError(f"{where} must be a mapping with a name, like {{name: code, maximize: 'task:0'}}, "
                             f"got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BomixError(f"{where} needs a name (name: code), got {name!r}")
        if any(o.name == name for o in out):
            raise BomixError(f"{where}: the name {name!r} is used twice: each objective needs its own name")
        try:
            out.append(Objective.from_config(dict(entry), available))
        except BomixError as exc:
            raise BomixError(f"{where} ({name}): {exc}") from None
    return tuple(out)


def parse_preference(cfg: Any, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """``problem.preference`` (None or objective name -> weight >= 0) -> weights in the objectives' order, summing
    to 1 (equal for None; an objective left out weighs 0); ``()`` without objectives.

    Raises:
        BomixError: one line: a preference without objectives, not a mapping, an unknown name, a weight that is
            not a finite number >= 0, or all weights 0.
    """
    if not objectives:
        if cfg is not None:
            raise BomixError("problem.preference weighs the objectives of a trade-off: declare problem.objectives "
                             "(2-4 named objectives) or remove it")
        return ()
    names = [o.name for o in objectives]
    if cfg is None:
        return tuple(1.0 / len(names) for _ in names)
    if not isinstance(cfg, Mapping):
        raise BomixError(f"problem.preference must map objective name -> weight, e.g. {{{names[0]}: 0.7, "
                         f"{names[1]}: 0.3}}, got {cfg!r}")
    unknown = [str(k) for k in cfg if k not in names]
    if unknown:
        raise BomixError(f"problem.preference names unknown objective(s) {unknown}: the objectives are {names}")
    w = []
    for n in names:
        x = finite_number(cfg.get(n, 0.0), f"problem.preference weight of {n}")
        if x < 0:
            raise BomixError(f"problem.preference weight of {n} must be >= 0, got {x}")
        w.append(x)
    if sum(w) <= 0:
        raise BomixError(f"problem.preference needs a positive weight on some objective, got {dict(cfg)}")
    return tuple(x / sum(w) for x in w)


def preferred(Y: np.ndarray, weights: Sequence[float]) -> int:
    """Index of the row of ``Y (n, M)`` (lower is better) that the preference ``weights (M,)`` picks: the weighted
    augmented Chebyshev rule of the module docstring."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or not len(Y) or Y.shape[1] != len(weights):
        raise BomixError(f"preferred needs (n, {len(weights)}) objective values, got shape {Y.shape}")
    lo, hi = Y.min(0), Y.max(0)
    z = (Y - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)
    p = np.asarray(weights, dtype=float)
    score = (p * z).max(1) + AUGMENT * z.sum(1)
    return int(np.argmin(score))
