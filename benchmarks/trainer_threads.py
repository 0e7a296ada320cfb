"""CPU trainer: wall and CPU time of cheapest-fidelity runs vs torch threads and ``OMP_NUM_THREADS``.

Each configuration starts fresh Python processes (so ``OMP_NUM_THREADS`` is read before torch is
imported), builds the trainer backend on a prepared corpus (``bomix data demo``) with the
``problem=demo_cpu`` settings and trains one 0.2M run of ``--steps`` steps (eval every 50). Reported
per configuration, median over ``--repeats`` (configurations interleaved, so load drift hits all):
``wall_s``/``cpu_s`` of the whole process (import + build + run, CPU from ``RUSAGE_CHILDREN``) and
``run_wall_s``/``run_cpu_s`` of the training loop alone. ``concurrent: 2`` runs two processes at once,
as two ``executor=process`` workers sharing the cores do. The load average is recorded before and
after each configuration: on a shared machine compare configurations only within one file.

    python benchmarks/trainer_threads.py --data data/demo            # -> benchmarks/results/trainer_threads_cpu.json
    python benchmarks/trainer_threads.py --data data/demo --steps 50 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# (label, torch threads or None = torch's default, OMP_NUM_THREADS or None = unset, concurrent runs)
CONFIGS = [
    ("threads=2 OMP unset", 2, None, 1),
    ("threads=2 OMP=1", 2, "1", 1),
    ("threads=1 OMP unset", 1, None, 1),
    ("threads=1 OMP=1", 1, "1", 1),
    ("2 runs x threads=2", 2, None, 2),
    ("2 runs x threads=1 OMP=1", 1, "1", 2),
]


def child(data: str, steps: int, threads: int | None, seed: int) -> None:
    """One run in this process; prints a JSON line."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from bomix.backends.trainer.backend import TrainerBackend
    from bomix.runs import RunSpec

    be = TrainerBackend(data, ladder="cpu", scales=["0.2M", "0.5M", "1M"], min_steps=min(100, steps),
                        max_steps=500, step_grid=sorted({steps, 100, 250, 500}), eval_every=50, batch_size=16,
                        context=128, lr=3e-3, warmup=50, threads=threads)
    k = len(be.space.domains)
    spec = RunSpec(mixture=be.space.mixture([1.0 / k] * k),
                   scale="0.2M", steps=steps, seed=seed, run_id=f"bench-{os.getpid()}")
    res = be.run(spec)
    be.close()
    print(json.dumps({"status": res.status, "error": res.error, "torch_threads": torch.get_num_threads(),
                      "run_wall_s": res.info.get("seconds"), "run_cpu_s": res.info.get("cpu_seconds")}))


def launch(args, threads, omp, n, seed):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("MKL_NUM_THREADS", None)
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    cmd = [sys.executable, __file__, "--child", "--data", args.data, "--steps", str(args.steps), "--seed", str(seed)]
    if threads:
        cmd += ["--threads", str(threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    bad = [x for x in lines if x["status"] != "ok"]
    if bad:
        raise SystemExit(f"run failed: {bad[0]}")
    return {"wall_s": wall, "cpu_s": cpu, "run_wall_s": max(x["run_wall_s"] for x in lines),
            "run_cpu_s": sum(x["run_cpu_s"] for x in lines), "torch_threads": lines[0]["torch_threads"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/demo", help="prepared corpus (bomix data demo --out data/demo)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated config indices (0-based) to run")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "trainer_threads_cpu.json"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.data, args.steps, args.threads, args.seed)
    configs = [CONFIGS[int(i)] for i in args.only.split(",")] if args.only else CONFIGS
    samples: dict[str, list] = {c[0]: [] for c in configs}
    for rep in range(args.repeats):
        for label, threads, omp, n in configs:
            load0 = os.getloadavg()[0]
            r = launch(args, threads, omp, n, seed=rep)
            r["load1_before"], r["load1_after"] = load0, os.getloadavg()[0]
            samples[label].append(r)
            print(f"rep {rep} {label:28s} wall {r['wall_s']:6.1f}s cpu {r['cpu_s']:6.1f}s  run wall "
                  f"{r['run_wall_s']:6.1f}s run cpu {r['run_cpu_s']:6.1f}s  load {load0:.1f}->{r['load1_after']:.1f}",
                  flush=True)
    results = []
    for label, threads, omp, n in configs:
        s = samples[label]
        med = {k: round(statistics.median(x[k] for x in s), 2)
               for k in ("wall_s", "cpu_s", "run_wall_s", "run_cpu_s", "load1_before", "load1_after")}
        results.append({"config": label, "threads": threads, "OMP_NUM_THREADS": omp, "concurrent_runs": n,
                        "median": med, "samples": s})
    out = {"benchmark": "trainer_threads", "scale": "0.2M", "steps": args.steps, "repeats": args.repeats,
           "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
           "command": "python benchmarks/trainer_threads.py " + " ".join(sys.argv[1:]), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\n{'config':28s} {'wall_s':>7s} {'cpu_s':>7s} {'run_wall':>8s} {'run_cpu':>8s} load1")
    for r in results:
        m = r["median"]
        print(f"{r['config']:28s} {m['wall_s']:7.1f} {m['cpu_s']:7.1f} {m['run_wall_s']:8.1f} {m['run_cpu_s']:8.1f} "
              f"{m['load1_before']:.1f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
