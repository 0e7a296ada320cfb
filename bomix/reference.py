"""Reference values of metrics, measured from runs of a reference mixture: what a normalised objective
(``objective.reference``, :mod:`bomix.objective`) and relative outcome constraints (:mod:`bomix.constraints`)
are declared against.

Run the reference mixture (the uniform mixture, the token-proportional one, your production mixture) at the
target fidelity, once or with a few seeds, e.g. ``bomix run policy=fixed 'policy.mixture=[0.2,0.2,0.2,0.2,0.2]'
seed=0,1,2 -m``, then ``bomix reference campaigns/sweep/*`` prints the ``reference:`` block to paste into the
problem config. The values are the mean final value of each metric over those runs (never a simulator's truth:
a real campaign has none, and a policy may not read it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bomix.errors import BomixError
from bomix.space import Fidelity


def reference_values(directories: Sequence[str | Path], metrics: Sequence[str] | None = None,
                     fidelity: Fidelity | None = None) -> dict[str, float]:
    """Mean final value of each metric over the ok runs at ``fidelity`` of campaign or study directories.

    Args:
        directories: campaign / study directories whose runs at ``fidelity`` all train one mixture.
        metrics: the metrics to report (default: every metric those runs report).
        fidelity: default each store's target fidelity.

    Returns:
        ``{metric: mean value}``, in the runs' metric order.

    Raises:
        BomixError: one line: no ok run at the fidelity, runs of several mixtures (a reference is one mixture),
            or a metric the runs do not report.
    """
    from bomix.store import StoreReader

    finals: list[dict[str, float]] = []
    mixtures: list[np.ndarray] = []
    for d in directories:
        with StoreReader(d) as store:
            domains = store.get_meta("domains")
            if not domains:
                raise BomixError(f"{store.path} records no domains: is it a campaign store?")
            target = (store.get_meta("space") or {}).get("target")
            fid = fidelity or (Fidelity(target["scale"], int(target["steps"])) if target else None)
            if fid is None:
                raise BomixError(f"{store.path} records no target fidelity: give --fidelity SCALE@STEPS")
            results, _, _ = store.load(domains)
        for r in results:
            if r.ok and r.spec.scale == fid.scale and fid.steps in set(int(s) for s in r.curve.steps):
                i = int(np.nonzero(r.curve.steps == fid.steps)[0][0])
                finals.append({m: float(v[i]) for m, v in r.curve.metrics.items() if np.isfinite(v[i])})
                mixtures.append(r.spec.mixture.weights)
    if not finals:
        where = ", ".join(map(str, directories))
        raise BomixError(f"no finished run at {fidelity or 'the target fidelity'} in {where}: run the reference mixture "
                         "there first (e.g. policy=fixed)")
    W = np.array(mixtures)
    if not np.allclose(W, W[0], atol=1e-9):
        raise BomixError(f"the runs train {len(np.unique(W.round(9), axis=0))} different mixtures: reference values "
                         "come from runs of one reference mixture (policy=fixed or policy=uniform campaigns)")
    names = list(metrics) if metrics else list(dict.fromkeys(m for f in finals for m in f))
    missing = [m for m in names if not all(m in f for f in finals)]
    if missing:
        raise BomixError(f"metric(s) {missing} are missing from some reference runs")
    return {m: float(np.mean([f[m] for f in finals])) for m in names}
