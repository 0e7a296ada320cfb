"""Queries per second of the MFMS simulator on this machine (single queries and batched).

Usage: python benchmarks/mfms_query_rate.py [--seconds 3] [--out benchmarks/results/mfms_query_rate.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from bomix.backends.mfms import MFMSBackend
from bomix.objective import Objective
from bomix.space import Fidelity, Mixture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", default="benchmarks/results/mfms_query_rate.json")
    args = ap.parse_args()
    b = MFMSBackend()
    obj = Objective.metric("ce_stackexchange")
    rng = np.random.default_rng(0)
    mixes = [Mixture(w) for w in rng.dirichlet(np.ones(5), 1000)]
    fid = Fidelity("1B", 19500)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        b.true_value(mixes[n % 1000], fid, obj)
        n += 1
    single = n / (time.perf_counter() - t0)
    W = rng.dirichlet(np.ones(5), 100_000)
    t0 = time.perf_counter()
    b.predict(W, 1000.0, 19500.0)
    batched = W.shape[0] / (time.perf_counter() - t0)
    res = {"single_queries_per_s": single, "batched_queries_per_s": batched, "target_single_per_s": 1e4,
           "machine": platform.processor() or platform.machine()}
    print(json.dumps(res, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
