"""Seconds per decision (GP fit + acquisition optimisation) of the BO policies, with ~N observations.

Builds histories of random runs on the synthetic backend (``--k`` domains, 5 by default) whose subsampled
checkpoints give ``--obs`` observations, then times ``policy.ask(history, budget, 1)`` of a freshly bound
policy (as in a resumed campaign: hypers warm-started from the previous decision's spec). Policies use their
conf/policy/<name>.yaml settings plus ``--set`` overrides (e.g. ``policy.max_obs=5000``: by default mfbo's GP
sees at most 2000 of the history's observations; ``n_obs`` in the JSON says how many it saw).

``--profile`` also splits each timed ask into its parts (wall seconds, summed over calls): the hyperparameter
fit (``fit``: the warm and cold L-BFGS runs, ``fit_compare``: their likelihoods), conditioning on all
observations (``condition``: building the full GP, ``check``: its first prediction, i.e. the Cholesky of all
observations), the acquisition search (``maximize``), the fidelity choice (``by_information``) and the
incumbent (``incumbent``); ``recommend_s`` is timed separately.

Usage: python benchmarks/decision_time.py [--policies mfbo] [--obs 1000,2000] [--k 5] [--repeats 5]
    [--set policy.max_obs=5000 ...] [--profile] [--tag NAME] [--out benchmarks/results/decision_time.json]

With ``--tag`` the rows go under ``runs[NAME]`` of an existing ``--out`` file (merged; the top-level
``policies`` keep the first, untagged, measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mfms_speedup import VARIANTS  # noqa: E402

from bomix.backends.synthetic import SyntheticBackend  # noqa: E402
from bomix.bench.sweep import build_policy, policy_overrides  # noqa: E402
from bomix.campaign import build_problem  # noqa: E402
from bomix.history import History  # noqa: E402
from bomix.runs import RunSpec  # noqa: E402
from bomix.space import Mixture  # noqa: E402

#: (module, attribute, label) of the functions ``--profile`` times
PROFILED = (("bomix.surrogate.gp", "_fit_from", "fit"), ("bomix.surrogate.gp", "_mll_per_point", "fit_compare"),
            ("bomix.surrogate.gp", "_condition_all", "condition"), ("bomix.surrogate.gp", "_check_usable", "check"),
            ("bomix.policies.bo.mfbo", "maximize", "maximize"),
            ("bomix.policies.bo.mfbo", "MFBOPolicy._by_information", "by_information"),
            ("bomix.policies.bo.base", "GPPolicy._incumbent_point", "incumbent"))


def make_policy(name: str, extra: list[str]):
    """The policy ``name`` (a conf/policy file or an mfms_speedup variant) with Hydra overrides ``extra``."""
    return build_policy(policy_overrides(name, VARIANTS, {}) + list(extra),
                        name=name if name in VARIANTS else None)


def history_with(backend, policy, n_obs: int, seed: int) -> History:
    """Random runs at random grid fidelities until the history holds >= ``n_obs`` observations as the policy
    subsamples checkpoints (uncapped by its ``max_obs``); runs are added in chunks sized by the deficit."""
    problem = build_problem(backend)
    space = problem.space
    h = History(space, problem.objective)
    rng = np.random.default_rng(seed)
    grid = space.fidelity_grid()
    encoder = dataclasses.replace(policy.encoder, max_obs=10**9)
    i, have = 0, 0
    while have < n_obs:
        for _ in range(max(1, (n_obs - have) // (2 * policy.max_per_run))):
            f = grid[rng.integers(len(grid))]
            spec = RunSpec(Mixture(space.sample(1, rng)[0], space.domains), f.scale, f.steps, tag="init",
                           run_id=f"r{i}")
            h.finish(backend.run(spec))
            i += 1
        have = len(encoder.observations(h))
    return h


class PhaseTimer:
    """Wall seconds per labelled function (:data:`PROFILED`), summed over calls, while :meth:`active`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.depth = 0

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        import importlib

        saved = []
        for mod_name, attr, label in PROFILED:
            owner = importlib.import_module(mod_name)
            *path, name = attr.split(".")
            for p in path:
                owner = getattr(owner, p)
            fn = owner.__dict__[name]
            saved.append((owner, name, fn))
            setattr(owner, name, self._wrap(fn, label))
        try:
            yield
        finally:
            for owner, name, fn in saved:
                setattr(owner, name, fn)

    def _wrap(self, fn, label: str):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1
        return timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", default="mfbo")
    ap.add_argument("--obs", default="100", help="comma-separated observation counts, e.g. 1000,2000")
    ap.add_argument("--k", default="5", help="comma-separated domain counts, e.g. 17,32,64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="Hydra overrides of the policy, e.g. policy.max_obs=5000")
    ap.add_argument("--profile", action="store_true", help="split each ask into its parts (see the docstring)")
    ap.add_argument("--tag", default=None, help="store the rows under runs[TAG] of an existing --out file")
    ap.add_argument("--out", default="benchmarks/results/decision_time.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    obs_counts = [int(o) for o in str(args.obs).split(",") if o]
    ks = [int(k) for k in str(args.k).split(",") if k]
    res = {"obs": obs_counts, "k": ks, "threads": args.threads, "machine": platform.platform(),
           "cpus": os.cpu_count(), "load_avg_start": os.getloadavg(), "overrides": args.set, "policies": {},
           "command": "python benchmarks/decision_time.py " + " ".join(sys.argv[1:])}
    for k in ks:
        backend = SyntheticBackend(k=k, seed=0)
        for name in args.policies.split(","):
            for n_obs in obs_counts:
                ask_s, rec_s, ask_cpu, phases = [], [], [], []
                for r in range(args.repeats):
                    probe = make_policy(name, args.set)
                    probe.bind(build_problem(backend), r)
                    t0 = time.perf_counter()
                    h = history_with(backend, probe, n_obs, seed=r)
                    build_s = time.perf_counter() - t0
                    warm = probe.ask(h, 100.0, 1)  # the previous decision: its hypers travel with its spec
                    h.add_pending(warm[0].with_(run_id="pending0"), 0.0)
                    pol = make_policy(name, args.set)
                    pol.bind(build_problem(backend), r)
                    timer = PhaseTimer()
                    with timer.active() if args.profile else contextlib.nullcontext():
                        t0, c0 = time.perf_counter(), time.process_time()
                        pol.ask(h, 100.0, 1)  # fit (subsample, warm start) + condition on all + acquisition
                        ask_s.append(time.perf_counter() - t0)
                        ask_cpu.append(time.process_time() - c0)
                    t0 = time.perf_counter()
                    pol.recommend(h)  # same history state: the fitted model is reused
                    rec_s.append(time.perf_counter() - t0)
                    phases.append(dict(timer.seconds))
                    print(f"  k={k} obs={n_obs} repeat {r}: ask {ask_s[-1]:.2f} s ({ask_cpu[-1]:.2f} CPU-s), "
                          f"recommend {rec_s[-1]:.2f} s, history built in {build_s:.1f} s"
                          + (f"; {', '.join(f'{p} {s:.2f}' for p, s in timer.seconds.items())}"
                             if args.profile else ""), flush=True)
                row = {"median_s": statistics.median(ask_s), "all_s": ask_s,
                       "recommend_median_s": statistics.median(rec_s), "cpu_median_s": statistics.median(ask_cpu),
                       "n_obs": len(pol.observations(h)), "n_obs_history": n_obs, "k": k,
                       "load_avg_end": os.getloadavg()}
                if args.profile:
                    row["phases_median_s"] = {p: statistics.median(ph.get(p, 0.0) for ph in phases)
                                              for p in sorted({p for ph in phases for p in ph})}
                key = str(n_obs) if k == 5 and len(ks) == 1 else f"{n_obs}@k{k}"
                res["policies"].setdefault(name, {})[key] = row
                print(name, key, json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.tag:
        doc = json.loads(out.read_text()) if out.exists() else {}
        doc.setdefault("runs", {})[args.tag] = res
        res = doc
    out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
