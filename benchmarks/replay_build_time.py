"""Build time of a model-mode replay simulator on a table shaped like a real held-out one.

The table (synthetic, deterministic): 108 runs, 1405 rows, 23 metrics, 5 domains, 3 scales (60 / 32 / 16
runs, 13 checkpoints each, one run with a 14th), losses = a scale/steps power law + a per-metric
quadratic mixture effect + noise. It is built with the default options (all 23 metrics, 20% held out for
the report) by the code of this checkout ("after") and by the code of ``--before`` (a git revision,
extracted with ``git archive``), each in a fresh process with ``PYTHONPATH`` pointing at that code.
A build that runs past ``--timeout`` is killed and reported as censored (``>= timeout``).

Usage:
    python benchmarks/replay_build_time.py [--before bcc6a76] [--workers 2] [--timeout 900] [--out benchmarks/results/replay_build_time.json]

Prints and writes JSON: per code version the wall seconds, child CPU seconds, whether it finished, the
``bomix`` module path it ran (to show which code was timed) and the held-out objective verdicts of its
report (Spearman, R^2, MAE per fidelity), so a faster build can be checked for lost accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCALES = (("20M", 2e7, 60), ("150M", 1.5e8, 32), ("1B", 1e9, 16))
DOMAINS = ("web", "code", "books", "wiki", "math")
STEPS = tuple(range(1000, 13001, 1000))
N_METRICS = 23


def synthetic_table(seed: int = 0) -> pd.DataFrame:
    """108 runs x 13 checkpoints (+1 row) x 23 metrics in the logged-run format."""
    rng = np.random.default_rng(seed)
    names = [f"loss:{d}" for d in DOMAINS] + [f"eval_{i:02d}" for i in range(N_METRICS - len(DOMAINS))]
    opt = rng.dirichlet(np.ones(len(DOMAINS)), N_METRICS)
    curv = rng.uniform(0.5, 3.0, N_METRICS)
    rows = []
    extra_done = False
    for scale, params, n in SCALES:
        for i, w in enumerate(rng.dirichlet(np.ones(len(DOMAINS)), n)):
            steps = list(STEPS) + ([14000] if not extra_done else [])
            extra_done = True
            for t in steps:
                base = 1.8 + 20.0 * params ** -0.2 + 3.0 * t ** -0.3
                row = {"run_id": f"{scale}-{i}", "scale": scale, "params": params, "step": t,
                       **{f"w:{d}": x for d, x in zip(DOMAINS, w)}}
                for j, m in enumerate(names):
                    row[f"m:{m}"] = base + curv[j] * ((w - opt[j]) ** 2).sum() + 0.01 * rng.standard_normal()
                rows.append(row)
    df = pd.DataFrame(rows)
    assert df["run_id"].nunique() == 108 and len(df) == 1405 and df.filter(like="m:").shape[1] == N_METRICS
    return df


def extract(rev: str, dest: Path) -> Path:
    """The ``bomix`` package of git revision ``rev`` under ``dest`` (git archive, no checkout)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "bomix"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def time_build(code: Path, table: Path, out: Path, timeout: float, workers: int | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), HF_HUB_OFFLINE="1")
    # an editable install's import hook would win over PYTHONPATH: drop it so ``code`` is what runs
    pre = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
           "(getattr(f, '__module__', '') or getattr(type(f), '__module__', '')).lower()]; "
           f"sys.path.insert(0, {str(code)!r}); ")
    probe = subprocess.run([sys.executable, "-c", pre + "import bomix; print(bomix.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    cmd = [sys.executable, "-c", pre + "from bomix.cli import main; sys.exit(main(sys.argv[1:]))",
           "simulator", "build", str(table), "--out", str(out), *(["--workers", str(workers)] if workers else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        finished, rc, err = proc.returncode == 0, proc.returncode, proc.stderr[-2000:]
    except subprocess.TimeoutExpired:
        finished, rc, err = False, None, f"killed after {timeout:.0f} s"
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = {"bomix": probe, "finished": finished, "returncode": rc, "wall_s": round(wall, 1),
           "load_avg_at_end": os.getloadavg(),
           "censored": not finished and rc is None,
           "child_cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
           "stderr_tail": err.splitlines()[-3:] if err else []}
    meta = out / "simulator.json"
    if finished and meta.is_file():
        m = json.loads(meta.read_text())
        res.update(fit_seconds=m.get("fit_seconds"), hyperparameters=m.get("hyperparameters"),
                   hyper_train=m.get("hyper_train"), warnings=m.get("warnings"))
        rep = json.loads((out / "report.json").read_text())
        res["heldout_objective"] = {"pooled_r2": rep["objective"]["pooled_r2"], "by_fidelity": [
            {k: r.get(k) for k in ("scale", "step", "n", "spearman", "r2", "mae")} for r in rep["objective"]["by_fidelity"]]}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="bcc6a76", help="git revision of the 'before' code (default: before issue 12)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a build is killed (censored)")
    ap.add_argument("--skip-before", action="store_true")
    ap.add_argument("--workers", type=int, default=None, help="--workers of both builds (default: the build's own)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "replay_build_time.json"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bomix-buildtime-"))
    table = work / "heldout_like.csv"
    synthetic_table().to_csv(table, index=False)
    result = {"command": " ".join(["python", "benchmarks/replay_build_time.py", *sys.argv[1:]]),
              "table": {"runs": 108, "rows": 1405, "metrics": N_METRICS, "domains": len(DOMAINS), "scales": 3},
              "cores": len(os.sched_getaffinity(0)), "load_avg_at_start": os.getloadavg(),
              "python": platform.python_version(), "timeout_s": args.timeout, "runs": {}}
    result["workers"] = args.workers
    result["runs"]["after"] = time_build(ROOT, table, work / "after", args.timeout, args.workers)
    print(json.dumps({"after": result["runs"]["after"]}, indent=1), flush=True)
    if not args.skip_before:
        code = extract(args.before, work / "before_code")
        result["runs"]["before"] = time_build(code, table, work / "before", args.timeout, args.workers)
        result["runs"]["before"]["revision"] = args.before
    result["load_avg_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
