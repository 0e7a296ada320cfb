"""Overhead of online controllers on the trainer: measured seconds per step vs what they are charged.

For each method, runs ``--steps`` steps of the real trainer on the demo corpus with the method's
controller, and the same steps with a static mixture (no controller), interleaved, ``--repeats``
times (seeds 0..r-1). Reports per method:

- ``s_per_step``: median seconds per training step (and min/max over repeats), the training loop
  only (model build and checkpoint writing excluded);
- ``measured_overhead``: median over repeats of ``s_per_step(method) / s_per_step(static) - 1``
  (each repeat against the static run of the same seed);
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
    static: list[float] = []
    rows: dict[str, dict] = {m: {"s_per_step": [], "ratio": []} for m in names}
    t_start = time.time()
    for rep in range(args.repeats):
        res = b.run(RunSpec(mix, args.scale, args.steps, seed=rep, run_id=f"static-{rep}"))
        assert res.ok, res.error
        static.append(res.wall_time / args.steps)
        print(json.dumps({"repeat": rep, "method": "static", "s_per_step": round(static[-1], 4)}), flush=True)
        for m in names:
            cfg = controller(m, k, "reference", args.scale, args.steps)
            spec = RunSpec(mix, args.scale, args.steps, seed=rep, run_id=f"{m}-{rep}", controller=cfg)
            res = b.run(spec)
            assert res.ok, res.error
            sps = res.wall_time / args.steps
            row = rows[m]
            row["s_per_step"].append(sps)
            row["ratio"].append(sps / static[-1] - 1.0)
            row["signal_requests"] = res.info["signal_requests"]
            ctrl = build_controller(cfg, b.space.domains, rep, initial=mix.weights, steps=args.steps)
            row["charged_overhead"] = float(ctrl.overhead(b.signal_costs(spec)))
            row["charged_check"] = res.cost / b.cost_model(args.scale, args.steps) - 1.0
            row["config"] = cfg.to_dict() | ({"params": {**cfg.params, "graph": "identity"}} if m == "skillit" else {})
            print(json.dumps({"repeat": rep, "method": m, "s_per_step": round(sps, 4),
                              "measured_overhead": round(row["ratio"][-1], 3),
                              "charged_overhead": round(row["charged_overhead"], 3)}), flush=True)
    b.close()
    results = []
    for m in names:
        r = rows[m]
        results.append({
            "method": m, "config": r["config"],
            "s_per_step": {"median": float(np.median(r["s_per_step"])), "min": float(np.min(r["s_per_step"])),
                           "max": float(np.max(r["s_per_step"]))},
            "measured_overhead": {"median": float(np.median(r["ratio"])), "min": float(np.min(r["ratio"])),
                                  "max": float(np.max(r["ratio"]))},
            "charged_overhead": r["charged_overhead"], "charged_in_run_cost": r["charged_check"],
            "signal_requests": r["signal_requests"]})
    import torch

    out = {"command": "python benchmarks/online_overhead.py " + " ".join(
               f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
           "device": args.device if args.device != "cpu" else f"cpu ({platform.processor() or platform.machine()})",
           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
           "scale": args.scale, "params": b.params[args.scale], "steps": args.steps, "batch": args.batch,
           "context": args.context, "repeats": args.repeats, "wall_seconds": round(time.time() - t_start, 1),
           "static_s_per_step": {"median": float(np.median(static)), "min": float(np.min(static)),
                                 "max": float(np.max(static))},
           "results": results}
    path = Path(args.out or Path(__file__).parent / "results" / f"online_overhead_{args.device.split(':')[0]}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({r["method"]: {"measured": round(r["measured_overhead"]["median"], 3),
                                    "charged": round(r["charged_overhead"], 3)} for r in results}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
