"""Overhead of online controllers on the trainer: measured seconds per step vs what they are charged.

For each method and repeat (seed), runs ``--steps`` steps of the real trainer on the demo corpus
with a static mixture (no controller) and then, right after it, the same steps with the method's
controller: each method run is paired with the static run just before it, so slow drifts in the
machine's load cancel. Reports per method:

- ``cpu_s_per_step`` / ``wall_s_per_step``: median (min, max over repeats) process CPU seconds and
  wall seconds per training step, the training loop only (model build and checkpoint writing
  excluded). CPU time is the primary measure: on a shared machine wall time also counts waiting
  for other processes; with one torch thread CPU time is the work done;
- ``measured_overhead``: median over repeats of ``cpu_s_per_step(method) / cpu_s_per_step(paired
  static) - 1`` (and the same ratio from wall time);
- ``charged_overhead``: the controller's ``overhead()`` with the trainer's ``signal_costs`` (the
  extra FLOPs fraction added to the run's cost at dispatch);
- ``signal_requests``: how often each expensive signal was gathered.

The methods run at their published defaults except the cadence parameters listed in ``METHODS``
(shrunk so that a short run spends its steps like a long one would); both numbers describe the
same configuration. DoReMi's reference is a static run of the same scale trained first (its time
is not counted). Writes ``benchmarks/results/online_overhead_<device>.json``.

    python benchmarks/online_overhead.py                     # 1M scale, 60 steps, 3 repeats, 1 thread
    python benchmarks/online_overhead.py --scale 0.5M --steps 30 --repeats 2 --methods odm,doge
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bomix.backends.trainer.backend import TrainerBackend  # noqa: E402
from bomix.online import ControllerConfig, build_controller  # noqa: E402
from bomix.runs import RunSpec  # noqa: E402

#: method -> controller config (cadence shrunk for short runs; everything else at published defaults)
METHODS: dict[str, dict] = {
    "odm": {"kind": "odm", "params": {"warmup": 10}},
    "doremi": {"kind": "doremi", "apply": "reweight", "reference": "model"},
    "excess": {"kind": "excess", "every": 10, "params": {"signal": "val"}, "reference": "curve"},
    "aioli": {"kind": "aioli", "params": {"lp_rounds": 1, "lp_steps": 2, "update_steps": 30}},
    "ado": {"kind": "ado", "params": {"refit_every": 20, "start": 20, "record_every": 1}},
    "doge": {"kind": "doge", "apply": "reweight"},
    "skillit": {"kind": "skillit", "every": 10, "params": {"graph": "identity"}},
}


def controller(name: str, k: int, ref_run: str, scale: str, steps: int) -> ControllerConfig:
    spec = dict(METHODS[name])
    params = dict(spec.get("params", {}))
    if params.get("graph") == "identity":
        params["graph"] = np.eye(k).tolist()
    ref = spec.get("reference")
    if ref == "model":
        ref = {"source": "model", "run_id": ref_run, "scale": scale}
    elif ref == "curve":
        ref = {"source": "curve", "steps": [steps], "losses": [[4.0] * k]}
    return ControllerConfig(spec["kind"], every=int(spec.get("every", 1)), apply=spec.get("apply", "resample"),
                            params=params, reference=ref)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/demo", help="output of `bomix data demo`")
    ap.add_argument("--scale", default="1M")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    names = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}: choose from {sorted(METHODS)}")
    tmp = tempfile.mkdtemp(prefix="bomix-online-overhead-")
    b = TrainerBackend(args.data, ladder="cpu", scales=[args.scale], min_steps=args.steps, max_steps=args.steps,
                       eval_every=args.steps, batch_size=args.batch, context=args.context, warmup=10,
                       device=args.device, threads=args.threads, checkpoint_dir=tmp)
    k, mix = b.space.k, b.space.center()
    ref = b.run(RunSpec(mix, args.scale, args.steps, seed=100, run_id="reference"))
    assert ref.ok, ref.error
    rows: dict[str, dict] = {m: {"cpu": [], "wall": [], "ratio": [], "ratio_wall": [], "static_cpu": []}
                             for m in names}
    t_start = time.time()
    for rep in range(args.repeats):
        for m in names:
            st = b.run(RunSpec(mix, args.scale, args.steps, seed=rep, run_id=f"static-{m}-{rep}"))
            cfg = controller(m, k, "reference", args.scale, args.steps)
            spec = RunSpec(mix, args.scale, args.steps, seed=rep, run_id=f"{m}-{rep}", controller=cfg)
            res = b.run(spec)
            assert st.ok and res.ok, (st.error, res.error)
            row = rows[m]
            s_cpu, s_wall = st.info["cpu_seconds"] / args.steps, st.wall_time / args.steps
            m_cpu, m_wall = res.info["cpu_seconds"] / args.steps, res.wall_time / args.steps
            row["cpu"].append(m_cpu)
            row["wall"].append(m_wall)
            row["static_cpu"].append(s_cpu)
            row["ratio"].append(m_cpu / s_cpu - 1.0)
            row["ratio_wall"].append(m_wall / s_wall - 1.0)
            row["signal_requests"] = res.info["signal_requests"]
            ctrl = build_controller(cfg, b.space.domains, rep, initial=mix.weights, steps=args.steps)
            row["charged_overhead"] = float(ctrl.overhead(b.signal_costs(spec)))
            row["charged_check"] = res.cost / b.cost_model(args.scale, args.steps) - 1.0
            row["config"] = cfg.to_dict() | ({"params": {**cfg.params, "graph": "identity"}} if m == "skillit" else {})
            print(json.dumps({"repeat": rep, "method": m, "static_cpu_s_per_step": round(s_cpu, 4),
                              "cpu_s_per_step": round(m_cpu, 4), "measured_overhead": round(row["ratio"][-1], 3),
                              "measured_overhead_wall": round(row["ratio_wall"][-1], 3),
                              "charged_overhead": round(row["charged_overhead"], 3)}), flush=True)
    b.close()

    def spread(x):
        return {"median": float(np.median(x)), "min": float(np.min(x)), "max": float(np.max(x))}

    results = []
    for m in names:
        r = rows[m]
        results.append({
            "method": m, "config": r["config"], "cpu_s_per_step": spread(r["cpu"]),
            "wall_s_per_step": spread(r["wall"]), "static_cpu_s_per_step": spread(r["static_cpu"]),
            "measured_overhead": spread(r["ratio"]), "measured_overhead_wall": spread(r["ratio_wall"]),
            "charged_overhead": r["charged_overhead"], "charged_in_run_cost": r["charged_check"],
            "signal_requests": r["signal_requests"]})
    import torch

    out = {"command": "python benchmarks/online_overhead.py " + " ".join(
               f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
           "device": args.device if args.device != "cpu" else f"cpu ({platform.processor() or platform.machine()})",
           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
           "scale": args.scale, "params": b.params[args.scale], "steps": args.steps, "batch": args.batch,
           "context": args.context, "repeats": args.repeats, "wall_seconds": round(time.time() - t_start, 1),
           "results": results}
    path = Path(args.out or Path(__file__).parent / "results" / f"online_overhead_{args.device.split(':')[0]}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({r["method"]: {"measured": round(r["measured_overhead"]["median"], 3),
                                    "charged": round(r["charged_overhead"], 3)} for r in results}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
