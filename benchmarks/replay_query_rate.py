"""Speed of the shipped RegMix replay simulator: load time, queries per second (single and batched, objective
metric only), and an uncached optimum search.

Usage: python benchmarks/replay_query_rate.py [--path simulator/regmix/built] [--seconds 3]
       [--out benchmarks/results/replay_query_rate.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from bomix.backends.replay import ReplayBackend
from bomix.space import Mixture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", default="simulator/regmix/built")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", default="benchmarks/results/replay_query_rate.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    b = ReplayBackend(args.path)
    load = time.perf_counter() - t0
    obj, fid = b.default_objective, b.space.target
    rng = np.random.default_rng(0)
    mixes = [Mixture(w) for w in rng.dirichlet(np.ones(b.space.k), 1000)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        b.true_value(mixes[n % 1000], fid, obj)
        n += 1
    single = n / (time.perf_counter() - t0)
    W = rng.dirichlet(np.ones(b.space.k), 20_000)
    t0 = time.perf_counter()
    b.predict(W, fid.scale, fid.steps, obj.metrics)
    batched = W.shape[0] / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    _, v = b._search(obj, fid)  # uncached dense search + SLSQP
    search = time.perf_counter() - t0
    res = {"simulator": b.name, "objective": obj.name, "load_s": load, "single_queries_per_s": single,
           "batched_queries_per_s": batched, "optimum_search_s": search, "optimum_value": v,
           "cached_optimum_value": b.optimum(obj)[1], "machine": platform.processor() or platform.machine()}
    print(json.dumps(res, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
