"""Spread over seeds, as every benchmark reports it: median, inter-quartile range and 90th percentile."""

from __future__ import annotations

import numpy as np


SPREAD_KEYS = ("median", "q25", "q75", "p90")


def spread(values) -> dict:
    """``{"median", "q25", "q75", "p90"}`` of ``values`` (one number per seed)."""
    v = np.asarray(values, dtype=float)
    return {"median": float(np.median(v)), "q25": float(np.quantile(v, 0.25)),
            "q75": float(np.quantile(v, 0.75)), "p90": float(np.quantile(v, 0.9))}
