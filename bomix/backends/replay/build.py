"""``bomix simulator build TABLE --out DIR``: build a replay simulator from a logged-run table.

The directory holds ``simulator.json`` (space, metrics, target, objective, mode), ``runs.csv`` (the
validated table), for model mode ``model.npz`` (one :class:`MetricModel` per metric), and the accuracy
report ``report.json`` / ``report.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bomix.backends.replay.format import LoggedRuns, load
from bomix.backends.replay.model import MAX_TRAIN, MetricModel, fit_metric
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.space import Fidelity, Scale, Space

FORMAT_VERSION = 1
MODES = ("pool", "model")
MAX_GRID = 6


def parse_objective(text: str | dict | None) -> dict | str | None:
    """``m`` | ``mean:m1,m2`` | ``max:m`` | a JSON object -> objective config (see Objective.from_config)."""
    if text is None or isinstance(text, dict):
        return text
    text = str(text).strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BomixError(f"--objective is not valid JSON ({exc.msg}): e.g. '{{\"mean\": [\"a\", \"b\"]}}'") from None
    if text.startswith("mean:"):
        return {"mean": [m.strip() for m in text[5:].split(",") if m.strip()]}
    if text.startswith("max:"):
        return {"maximize": text[4:].strip()}
    return text


def make_space(runs: LoggedRuns, target_scale: str | None = None, target_step: int | None = None) -> Space:
    """The simulator's space: the table's domains and ladder, logged step range, the target fidelity."""
    t = runs.table
    scales = [Scale(n, p) for n, p in runs.scales.items()]
    if target_scale is None:
        target_scale = max(runs.scales, key=runs.scales.get)
    if target_scale not in runs.scales:
        raise BomixError(f"--target-scale {target_scale!r} is not in the table's scales {sorted(runs.scales)}")
    if target_step is None:
        target_step = int(t.loc[t["scale"] == target_scale, "step"].max())
    steps = np.unique(t["step"].to_numpy())
    lo, hi = int(steps.min()), int(max(steps.max(), target_step))
    grid = steps if steps.size <= MAX_GRID else np.unique(np.geomspace(lo, hi, MAX_GRID).round().astype(int))
    grid = sorted({int(g) for g in grid} | {int(target_step)})
    return Space(runs.domains, scales, min_steps=lo, max_steps=hi, target=Fidelity(target_scale, int(target_step)),
                 step_grid=tuple(grid))


def encode(space: Space, runs: LoggedRuns, table: pd.DataFrame | None = None) -> np.ndarray:
    """``(n_rows, K + 2)`` GP inputs of a table's rows."""
    t = runs.table if table is None else table
    return space.encode(t[runs.w_cols].to_numpy(float), list(t["scale"]), t["step"].to_numpy(float))


def fit_models(space: Space, runs: LoggedRuns, table: pd.DataFrame, metrics: list[str], seed: int,
               max_train: int) -> dict[str, MetricModel]:
    """One model per metric on ``table``'s rows where that metric is measured."""
    x = encode(space, runs, table)
    out = {}
    for m in metrics:
        y = table[f"m:{m}"].to_numpy(float)
        ok = np.isfinite(y)
        out[m] = fit_metric(x[ok], y[ok], table["run_id"].to_numpy()[ok], seed=seed, max_train=max_train)
    return out


def split_runs(runs: LoggedRuns, frac: float, seed: int) -> np.ndarray:
    """Held-out run ids: ``frac`` of the runs of each scale (none from a scale with < 5 runs)."""
    rng = np.random.default_rng(seed)
    info = runs.runs()
    held = []
    for _, g in info.groupby("scale"):
        if len(g) >= 5:
            n = max(1, int(round(frac * len(g))))
            held.extend(rng.choice(g["run_id"].to_numpy(), n, replace=False).tolist())
    return np.array(held, dtype=object)


def accuracy_report(space: Space, runs: LoggedRuns, metrics: list[str], frac: float, seed: int,
                    max_train: int) -> dict:
    """Fit on the other runs, predict held-out runs; R^2 and Spearman across mixtures per (scale, step)."""
    held = split_runs(runs, frac, seed)
    t = runs.table
    test_mask = t["run_id"].isin(set(held)).to_numpy()
    if not test_mask.any():
        return {"holdout_fraction": frac, "n_test_runs": 0, "metrics": {},
                "note": "too few runs per scale to hold any out (need >= 5 at a scale)"}
    models = fit_models(space, runs, t[~test_mask], metrics, seed, max_train)
    test = t[test_mask]
    x = encode(space, runs, test)
    rep = {"holdout_fraction": frac, "seed": seed, "n_train_runs": int(t.loc[~test_mask, "run_id"].nunique()),
           "n_test_runs": int(len(held)), "metrics": {}}
    for m in metrics:
        y = test[f"m:{m}"].to_numpy(float)
        ok = np.isfinite(y)
        pred = models[m].predict(x[ok])
        yy, sc, st = y[ok], test["scale"].to_numpy()[ok], test["step"].to_numpy()[ok]
        rows = []
        for (scale, step), idx in pd.DataFrame({"s": sc, "t": st}).groupby(["s", "t"]).indices.items():
            if len(idx) < 3:
                continue
            rows.append({"scale": str(scale), "params": runs.scales[str(scale)], "step": int(step), "n": int(len(idx)),
                         "r2": _r2(yy[idx], pred[idx]), "spearman": _spearman(yy[idx], pred[idx]),
                         "mae": float(np.mean(np.abs(yy[idx] - pred[idx])))})
        rows.sort(key=lambda r: (r["params"], r["step"]))
        rep["metrics"][m] = {"pooled_r2": _r2(yy, pred), "by_fidelity": rows}
    return rep


def _r2(y: np.ndarray, p: np.ndarray) -> float | None:
    ss = float(((y - y.mean()) ** 2).sum())
    return None if ss <= 0 else float(1.0 - ((y - p) ** 2).sum() / ss)


def _spearman(y: np.ndarray, p: np.ndarray) -> float | None:
    if np.ptp(y) == 0 or np.ptp(p) == 0:
        return None
    return float(spearmanr(y, p).statistic)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def report_markdown(meta: dict, rep: dict, max_rows: int = 12) -> str:
    """The accuracy report as markdown (per metric: the target fidelity and each scale's last step first)."""
    lines = [f"# Accuracy report: {meta['name']} ({meta['mode']} mode)", ""]
    if meta["mode"] == "pool":
        lines += ["Pool mode replays logged points exactly: no model error. Logged runs per fidelity:", "",
                  "| scale | step | runs |", "|---|---|---|"]
        lines += [f"| {r['scale']} | {r['step']} | {r['runs']} |" for r in rep["pool"]]
        return "\n".join(lines) + "\n"
    lines += [f"Held-out runs: {rep.get('n_test_runs', 0)} ({rep['holdout_fraction']:.0%} of each scale's runs), "
              f"fitted on {rep.get('n_train_runs', '-')} runs. R^2 and Spearman are computed *across mixtures* "
              "at one fidelity, so they measure how well the model ranks mixtures, not how well it tracks the "
              "loss level across scales (pooled R^2 mixes both and flatters the model).", ""]
    if rep.get("note"):
        lines += [f"Note: {rep['note']}", ""]
    tgt = (meta["target"]["scale"], meta["target"]["steps"])
    for m, r in rep.get("metrics", {}).items():
        rows = r["by_fidelity"]
        last = {}
        for row in rows:
            last[row["scale"]] = row
        key = lambda row: (0 if (row["scale"], row["step"]) == tgt else 1 if last.get(row["scale"]) is row else 2)  # noqa: E731
        shown = sorted(rows, key=key)[:max_rows]
        shown.sort(key=lambda row: (row["params"], row["step"]))
        lines += [f"## {m}{' (objective)' if m in meta.get('objective_metrics', []) else ''}", "",
                  f"pooled R^2 {_fmt(r['pooled_r2'])}; {len(rows)} fidelities with >= 3 held-out runs"
                  + (f" ({len(shown)} shown)" if len(shown) < len(rows) else ""), "",
                  "| scale | step | n | R^2 | Spearman | MAE |", "|---|---|---|---|---|---|"]
        lines += [f"| {x['scale']}{' (target)' if (x['scale'], x['step']) == tgt else ''} | {x['step']} | {x['n']} | "
                  f"{_fmt(x['r2'])} | {_fmt(x['spearman'])} | {_fmt(x['mae'])} |" for x in shown]
        lines.append("")
    return "\n".join(lines) + "\n"


def build(table: str | Path | LoggedRuns, out: str | Path, mode: str = "model", target_scale: str | None = None,
          target_step: int | None = None, objective=None, name: str | None = None, metrics: list[str] | None = None,
          holdout: float = 0.2, seed: int = 0, max_train: int = MAX_TRAIN, report: bool = True) -> Path:
    """Build a simulator directory from a logged-run table.

    Args:
        table: path of a CSV/parquet table in the logged-run format, or validated runs.
        out: output directory (created; existing simulator files are overwritten).
        mode: ``pool`` (exact replay of logged points) or ``model`` (a regressor answers any query).
        target_scale / target_step: the target fidelity (default: largest scale, its last logged step).
        objective: default objective config (metric name, ``mean:a,b``, ``max:m`` or a dict); default the
            first metric.
        name: simulator name (default: the table's file stem).
        metrics: metrics to model (model mode; default all).
        holdout: fraction of runs held out for the accuracy report (0 = no report fit).
        seed: split and subsampling seed.
        max_train: GP training points per metric at most.
        report: write the accuracy report.

    Returns:
        The output directory.
    """
    if mode not in MODES:
        raise BomixError(f"--mode must be one of {MODES}, got {mode!r}")
    runs = table if isinstance(table, LoggedRuns) else load(table)
    if name is None:
        name = Path(runs.source).stem if not isinstance(table, LoggedRuns) else "replay"
    space = make_space(runs, target_scale, int(target_step) if target_step is not None else None)
    obj_cfg = parse_objective(objective)
    obj = Objective.from_config(obj_cfg, runs.metrics, default=Objective.metric(runs.metrics[0]))
    chosen = list(runs.metrics) if metrics is None else list(metrics)
    unknown = [m for m in chosen if m not in runs.metrics]
    if unknown:
        raise BomixError(f"--metrics has unknown metric(s) {unknown}; the table has {list(runs.metrics)}")
    missing_obj = [m for m in obj.metrics if m not in chosen]
    if missing_obj:
        raise BomixError(f"the objective needs metric(s) {missing_obj}: add them to --metrics")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = runs.table
    tps = None
    if runs.has_tokens:
        tps = float(np.median(t["tokens"].to_numpy(float) / t["step"].to_numpy(float)))
    meta = {
        "format_version": FORMAT_VERSION, "name": name, "mode": mode, "source": Path(str(runs.source)).name,
        "domains": list(runs.domains), "metrics": chosen,
        "scales": {s.name: s.params for s in space.scales},
        "min_steps": space.min_steps, "max_steps": space.max_steps, "step_grid": list(space.step_grid),
        "target": {"scale": space.target.scale, "steps": space.target.steps},
        "objective": obj_cfg if obj_cfg is not None else runs.metrics[0], "objective_metrics": obj.metrics,
        "tokens_per_step": tps, "eval_steps": sorted(int(s) for s in np.unique(t["step"])),
        "n_runs": int(t["run_id"].nunique()), "n_rows": int(len(t)), "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    keep_cols = ["run_id", "scale", "params", "step", *(["tokens"] if "tokens" in t.columns else []),
                 *runs.w_cols, *[f"m:{m}" for m in chosen]]
    t[keep_cols].to_csv(out / "runs.csv", index=False, float_format="%.8g")
    if mode == "model":
        t0 = time.perf_counter()
        models = fit_models(space, runs, t, chosen, seed, max_train)
        arrays = {}
        for j, m in enumerate(chosen):
            arrays.update(models[m].to_arrays(f"m{j}"))
        np.savez_compressed(out / "model.npz", **arrays)
        meta["fit_seconds"] = round(time.perf_counter() - t0, 2)
        meta["model"] = ("per-fidelity mean/sd (thin-plate interpolation over s, t) + GP (RBF-ARD) over "
                         "[w, s, t] on standardised residuals")
    if report:
        if mode == "model":
            rep = accuracy_report(space, runs, chosen, holdout, seed, max_train) if holdout > 0 else \
                {"holdout_fraction": 0.0, "metrics": {}, "note": "no held-out fit (--holdout 0)"}
        else:
            counts = t.groupby(["scale", "step"])["run_id"].nunique().reset_index()
            counts["params"] = counts["scale"].map(runs.scales)
            counts = counts.sort_values(["params", "step"])
            rep = {"pool": [{"scale": str(r.scale), "step": int(r.step), "runs": int(r.run_id)}
                            for r in counts.itertuples()]}
        rep["mode"] = mode
        (out / "report.json").write_text(json.dumps(rep, indent=1))
        (out / "report.md").write_text(report_markdown(meta, rep))
    (out / "simulator.json").write_text(json.dumps(meta, indent=1))
    if mode == "model":
        cache_optimum(out)
    return out


def cache_optimum(out: str | Path) -> tuple[list[float], float]:
    """Search the model's optimum for the default objective at the target and store it in simulator.json
    (the search takes seconds to tens of seconds; campaigns then start at once)."""
    from bomix.backends.replay.backend import ReplayBackend, optimum_key

    sim = ReplayBackend(str(out))
    obj, fid = sim.default_objective, sim.space.target
    m, v = sim.optimum(obj, fid)
    meta_file = Path(out) / "simulator.json"
    meta = json.loads(meta_file.read_text())
    meta["optima"] = {optimum_key(obj, fid): {"mixture": m.to_list(), "value": float(v)}}
    meta_file.write_text(json.dumps(meta, indent=1))
    return m.to_list(), float(v)


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line BomixErrors (the CLI prints them and exits 2)."""

    def error(self, message: str):
        raise BomixError(f"{message}: usage `bomix simulator build TABLE --out DIR [--mode pool|model]`")


def cli_main(argv: list[str]) -> int:
    """``bomix simulator build TABLE --out DIR [--mode pool|model] [--target-scale S] [--target-step T]
    [--objective OBJ] [--name N] [--metrics m1,m2] [--holdout F] [--seed S]``."""
    p = _Parser(prog="bomix simulator", description="Build a replay simulator from logged runs.")
    sub = p.add_subparsers(dest="cmd")
    sub._parser_class = _Parser  # noqa: SLF001 - subparsers raise BomixError too
    b = sub.add_parser("build", help="validate a logged-run table and build a simulator directory")
    b.add_argument("table", help="CSV or parquet in the logged-run format (simulator/README.md)")
    b.add_argument("--out", required=True, help="output directory (load it with backend=replay backend.path=DIR)")
    b.add_argument("--mode", default="model", choices=MODES,
                   help="pool: exact replay of the logged points only; model: a regressor per metric answers any "
                        "query (default model)")
    b.add_argument("--target-scale", default=None, help="the target scale (default the largest logged scale)")
    b.add_argument("--target-step", type=int, default=None,
                   help="the target step (default the last logged step at the target scale)")
    b.add_argument("--objective", default=None, help="metric | mean:m1,m2 | max:m | JSON objective config")
    b.add_argument("--name", default=None, help="simulator name (default the table's file stem)")
    b.add_argument("--metrics", default=None, help="comma-separated metrics to model (default all)")
    b.add_argument("--holdout", type=float, default=0.2, help="fraction of runs held out for the report")
    b.add_argument("--seed", type=int, default=0, help="seed of the hold-out split and the model fits (default 0)")
    b.add_argument("--max-train", type=int, default=MAX_TRAIN,
                   help=f"training points per metric model at most (model mode; default {MAX_TRAIN})")
    sub.add_parser("validate", help="only validate a table").add_argument("table")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if args.cmd == "validate":
        runs = load(args.table)
        print(f"{args.table}: ok, {runs.table['run_id'].nunique()} runs, {len(runs.table)} rows, "
              f"{len(runs.domains)} domains, {len(runs.metrics)} metrics, scales {runs.scales}")
        return 0
    if args.cmd != "build":
        raise BomixError("usage: bomix simulator build TABLE --out DIR [--mode pool|model] (or: validate TABLE)")
    if not 0 <= args.holdout < 1:
        raise BomixError(f"--holdout must be in [0, 1), got {args.holdout}")
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    out = build(args.table, args.out, mode=args.mode, target_scale=args.target_scale, target_step=args.target_step,
                objective=args.objective, name=args.name, metrics=metrics, holdout=args.holdout, seed=args.seed,
                max_train=args.max_train)
    print(f"built {args.mode} simulator in {out} (report: {out / 'report.md'})")
    return 0
