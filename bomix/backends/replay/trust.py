"""The trust region of a model-mode simulator: how far from logged mixtures its answers are trusted.

Distance: total variation ``TV(w, c) = 0.5 * sum |w - c|`` (the share of the mixture that must move)
to the nearest mixture logged at the same fidelity. Radius per logged fidelity: the
``TRUST_QUANTILE`` quantile of the logged mixtures' leave-one-out nearest-neighbour distances there,
i.e. a query is trusted when it is no farther from the data than 90% of the logged mixtures are from
their own nearest neighbour. The build's report checks this on the held-out runs (error inside vs
outside the radius). Fidelities with a single logged run borrow the radius of their scale (else of
the whole table).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bomix.fidelity import Fidelity
from bomix.proposals import TrustRegion, nn_distances, tv_distance
from bomix.runtable import wcols

#: quantile of the leave-one-out nearest-neighbour distances that sets a fidelity's radius
TRUST_QUANTILE = 0.9


def logged_mixtures(table: pd.DataFrame, domains) -> tuple[dict[Fidelity, np.ndarray], dict[str, np.ndarray]]:
    """Unique logged mixtures per ``(scale, step)`` and per scale: ``({fid: (n, K)}, {scale: (m, K)})``."""
    wc = wcols(domains)
    by_fid = {Fidelity(str(s), int(t)): np.unique(g[wc].to_numpy(float).round(12), axis=0)
              for (s, t), g in table.groupby(["scale", "step"])}
    by_scale = {str(s): np.unique(g[wc].to_numpy(float).round(12), axis=0) for s, g in table.groupby("scale")}
    return by_fid, by_scale


def radii(by_fid: Mapping[Fidelity, np.ndarray], q: float = TRUST_QUANTILE) -> dict[Fidelity, float]:
    """Radius per fidelity (see the module doc)."""
    own = {f: nn_distances(C) for f, C in by_fid.items()}
    fin = {f: d[np.isfinite(d)] for f, d in own.items()}
    pooled = np.concatenate([d for d in fin.values()] or [np.zeros(0)])
    every = float(np.quantile(pooled, q)) if pooled.size else 1.0
    out = {}
    for f, d in fin.items():
        if d.size:
            out[f] = float(np.quantile(d, q))
        else:
            same = np.concatenate([fin[g] for g in fin if g.scale == f.scale] or [np.zeros(0)])
            out[f] = float(np.quantile(same, q)) if same.size else every
    return out


def trust_region(table: pd.DataFrame, domains, q: float = TRUST_QUANTILE,
                 radius: Mapping[str, float] | None = None) -> TrustRegion:
    """The trust region of a logged-run table (``radius``: ``"scale@step" -> r`` as stored, else computed)."""
    by_fid, by_scale = logged_mixtures(table, domains)
    if radius is None:
        r = radii(by_fid, q)
    else:
        r = {f: float(radius[key(f)]) for f in by_fid if key(f) in radius}
    return TrustRegion(by_fid, r, by_scale)


def key(f: Fidelity) -> str:
    return str(f)


def holdout_check(train: pd.DataFrame, test: pd.DataFrame, domains, err: np.ndarray,
                  radius: Mapping[Fidelity, float]) -> list[dict]:
    """Per fidelity: held-out runs' distance to the nearest training mixture there and the objective's
    absolute error inside vs outside the radius (the evidence for the radius).

    Args:
        train / test: the split's rows; err: ``(len(test),)`` absolute objective errors (NaN = not measured).
        radius: the radius per fidelity.
    """
    by_train, _ = logged_mixtures(train, domains)
    rows = []
    wc = wcols(domains)
    for (s, t), idx in test.groupby(["scale", "step"]).indices.items():
        f = Fidelity(str(s), int(t))
        e = err[idx]
        ok = np.isfinite(e)
        if ok.sum() < 3 or f not in radius or f not in by_train:
            continue
        d = tv_distance(test[wc].to_numpy(float)[idx][ok], by_train[f])
        inside = d <= radius[f]
        rows.append({"scale": f.scale, "step": f.steps, "radius": radius[f], "n_inside": int(inside.sum()),
                     "n_outside": int((~inside).sum()),
                     "mae_inside": float(e[ok][inside].mean()) if inside.any() else None,
                     "mae_outside": float(e[ok][~inside].mean()) if (~inside).any() else None,
                     "median_distance": float(np.median(d))})
    return rows
