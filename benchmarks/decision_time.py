"""Seconds per decision (GP fit + acquisition optimisation) of the BO policies, with ~N observations.

Builds histories of random runs on the synthetic backend (5 domains) whose subsampled checkpoints give
``--obs`` GP observations, then times ``policy.ask(history, budget, 1)`` of a freshly bound policy (as in
a resumed campaign: hypers warm-started from the previous decision's spec). Policies use their
conf/policy/<name>.yaml settings. Writes JSON.

Usage: python benchmarks/decision_time.py [--policies mfbo] [--obs 1000,2000] [--repeats 5]
    [--out benchmarks/results/decision_time.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mfms_speedup import make_policy  # noqa: E402

from bomix.backends.synthetic import SyntheticBackend  # noqa: E402
from bomix.campaign import build_problem  # noqa: E402
from bomix.history import History  # noqa: E402
from bomix.runs import RunSpec  # noqa: E402
from bomix.space import Mixture  # noqa: E402


def history_with(backend, policy, n_obs: int, seed: int) -> History:
    """Random runs at random grid fidelities until the policy's GP would see >= ``n_obs`` observations."""
    problem = build_problem(backend)
    space = problem.space
    h = History(space, problem.objective)
    rng = np.random.default_rng(seed)
    grid = space.fidelity_grid()
    i = 0
    while len(policy.observations(h)) < n_obs:
        f = grid[rng.integers(len(grid))]
        spec = RunSpec(Mixture(space.sample(1, rng)[0], space.domains), f.scale, f.steps, tag="init", run_id=f"r{i}")
        h.finish(backend.run(spec))
        i += 1
    return h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", default="mfbo")
    ap.add_argument("--obs", default="100", help="comma-separated observation counts, e.g. 1000,2000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/decision_time.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    backend = SyntheticBackend(k=5, seed=0)
    obs_counts = [int(o) for o in str(args.obs).split(",") if o]
    res = {"obs": obs_counts, "threads": args.threads, "machine": platform.platform(),
           "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(), "policies": {},
           "command": "python benchmarks/decision_time.py " + " ".join(sys.argv[1:])}
    for name in args.policies.split(","):
        for n_obs in obs_counts:
            ask_s, rec_s, ask_cpu = [], [], []
            for r in range(args.repeats):
                probe = make_policy(name, sized=False)
                probe.bind(build_problem(backend), r)
                h = history_with(backend, probe, n_obs, seed=r)
                warm = probe.ask(h, 100.0, 1)  # the previous decision: its hypers travel with its spec
                h.add_pending(warm[0].with_(run_id="pending0"), 0.0)
                pol = make_policy(name, sized=False)
                pol.bind(build_problem(backend), r)
                t0, c0 = time.perf_counter(), time.process_time()
                pol.ask(h, 100.0, 1)  # fit (subsample, warm start) + condition on all + acquisition
                ask_s.append(time.perf_counter() - t0)
                ask_cpu.append(time.process_time() - c0)
                t0 = time.perf_counter()
                pol.recommend(h)  # same history state: the fitted model is reused
                rec_s.append(time.perf_counter() - t0)
            row = {"median_s": statistics.median(ask_s), "all_s": ask_s, "recommend_median_s": statistics.median(rec_s),
                   "cpu_median_s": statistics.median(ask_cpu),
                   "n_obs": len(pol.observations(h)), "load_avg_end": os.getloadavg()}
            res["policies"].setdefault(name, {})[str(n_obs)] = row
            print(name, n_obs, row, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
