"""How long ``Study.ask`` (and ``tell``) take as a study's store grows (one worker, and several worker processes).

Each worker opens the study, then loops ``ask`` -> ``tell(value=...)`` until the budget is spent
(``random`` policy, every run a target run of cost 1, so the budget is the number of runs). The
latency of every ``ask`` and ``tell`` is recorded with the number of runs the store held when it was called.

    python benchmarks/study_ask_latency.py --label after          # 375 runs, 1 worker, then 4 workers
    python benchmarks/study_ask_latency.py --runs 375 --workers 1,8 --label before

``--label`` keys the measurement, so runs of two code versions (e.g. with ``PYTHONPATH`` pointing at an
older checkout) land side by side in one file; compare only labels measured on the same machine and load.

Prints a table and merges ``{label: {...}}`` into ``benchmarks/results/study_ask_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bomix

DOMAINS = ["code", "web", "books", "math"]
LADDER = {"s": 1e6, "l": 1e7}
WINDOW = 25  # asks per reported window
OUT = Path(__file__).resolve().parent / "results" / "study_ask_latency.json"


def _open(directory: str, budget: float):
    from bomix.study import Study

    return Study.create(directory, domains=DOMAINS, ladder=LADDER, steps=[100, 400], objective="loss",
                        policy="random", budget=budget, exist_ok=True)


def _loss(mixture: dict) -> float:
    return 2.0 + sum((mixture[d] - 0.25) ** 2 for d in DOMAINS)


def _worker(directory: str, budget: float, out: "mp.Queue") -> None:
    samples = []
    with _open(directory, budget) as study:
        while True:
            n_before = study.store.next_index()
            t0 = time.perf_counter()
            trial = study.ask(wait=True, poll=0.01)
            dt = time.perf_counter() - t0
            if trial is None:
                break
            t0 = time.perf_counter()
            study.tell(trial.run_id, value=_loss(trial.mixture))
            samples.append((n_before, dt, time.perf_counter() - t0))
    out.put(samples)


def _windows(samples: list[tuple[int, float]], n_runs: int) -> dict[str, float]:
    """Median latency (ms) of the calls made while the store held [n - WINDOW, n) runs, per n."""
    out = {}
    for n in sorted({WINDOW, n_runs // 3, 2 * n_runs // 3, n_runs}):
        xs = [dt for k, dt in samples if n - WINDOW <= k < n]
        if xs:
            out[str(n)] = round(1e3 * statistics.median(xs), 2)
    return out


def measure(n_runs: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bomix-ask-") as tmp:
        d = str(Path(tmp) / "study")
        _open(d, float(n_runs)).close()
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(d, float(n_runs), q)) for _ in range(workers)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        samples = [s for _ in procs for s in q.get()]
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
    lat = [dt for _, dt, _ in samples]
    return {"workers": workers, "runs": len(samples), "wall_s": round(wall, 2),
            "median_ms": round(1e3 * statistics.median(lat), 2),
            "p90_ms": round(1e3 * statistics.quantiles(lat, n=10)[-1], 2),
            "median_ms_by_store_size": _windows([(k, a) for k, a, _ in samples], n_runs),
            "tell_median_ms_by_store_size": _windows([(k, t) for k, _, t in samples], n_runs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=375, help="runs per study (its budget)")
    ap.add_argument("--workers", default="1,4", help="comma-separated worker-process counts")
    ap.add_argument("--label", default="current", help="key of this measurement in the JSON file")
    args = ap.parse_args(argv)
    rows = [measure(args.runs, int(w)) for w in args.workers.split(",")]
    for r in rows:
        sizes = ", ".join(f"{k} runs: {v} ms" for k, v in r["median_ms_by_store_size"].items())
        tells = ", ".join(f"{k}: {v} ms" for k, v in r["tell_median_ms_by_store_size"].items())
        print(f"[{args.label}] {r['workers']} worker(s), {r['runs']} asks in {r['wall_s']} s: ask median "
              f"{r['median_ms']} ms, p90 {r['p90_ms']} ms; ask median by store size: {sizes}; tell: {tells}")
    data = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if not isinstance(data, dict):
        data = {}
    data[args.label] = {"rows": rows, "bomix": str(Path(bomix.__file__).parent), "python": platform.python_version(),
                        "cpus": mp.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                        "argv": sys.argv[1:], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
