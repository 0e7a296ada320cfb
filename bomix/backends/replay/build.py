"""Build a replay simulator from a logged-run table (the library of ``bomix simulator build``,
:mod:`bomix.cli.simulator`).

The directory holds ``simulator.json`` (space, metrics, target, objective, mode), ``runs.csv`` (the
validated table), for model mode ``model.npz`` (one :class:`MetricModel` per metric), and the accuracy
report ``report.json`` / ``report.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bomix.backends.replay.backend import FORMAT_VERSION
from bomix.backends.replay.fitting import fit_models
from bomix.backends.replay.model import HYPER_TRAIN, MAX_TRAIN
from bomix.backends.replay.report import accuracy_report, report_markdown
from bomix.backends.replay.trust import TRUST_QUANTILE, logged_mixtures, radii
from bomix.backends.replay.trust import key as trust_key
from bomix.errors import BomixError, unwritable
from bomix.fidelity import FidelityGrid
from bomix.objective import Objective
from bomix.runtable import LoggedRuns, lead_columns, load, mcol, mcols
from bomix.space import Fidelity, Scale, Space

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


def make_grid(runs: LoggedRuns, mode: str, target: tuple[str, int]) -> FidelityGrid:
    """The honest fidelity grid: every logged ``(scale, step)``; in model mode also, per scale whose runs
    log learning curves (>= 2 checkpoints), the trusted range between its first and last logged step.

    The policy-facing points are each scale's logged steps, thinned to at most ``MAX_GRID`` per scale
    (log-spaced, snapped to logged steps), plus the target.
    """
    t = runs.table
    pairs = {(str(s), int(k)) for s, k in zip(t["scale"], t["step"])}
    if tuple(target) not in pairs:
        raise BomixError(f"target {Fidelity(*target)} was never logged (logged at {target[0]}: "
                         f"{sorted(k for s, k in pairs if s == target[0])[:8]}): choose a logged --target-step")
    points, ranges = {tuple(target)}, {}
    for scale, g in t.groupby("scale"):
        steps = np.unique(g["step"].to_numpy())
        if steps.size > MAX_GRID:
            want = np.geomspace(steps.min(), steps.max(), MAX_GRID)
            steps = np.unique([steps[int(np.argmin(np.abs(np.log(steps) - np.log(w))))] for w in want])
        points |= {(str(scale), int(k)) for k in steps}
        if mode == "model" and (g.groupby("run_id")["step"].nunique() >= 2).any():
            ranges[str(scale)] = (int(g["step"].min()), int(g["step"].max()))
    return FidelityGrid.from_pairs(sorted(pairs), points=sorted(points), ranges=ranges)


def make_space(runs: LoggedRuns, target_scale: str | None = None, target_step: int | None = None,
               mode: str = "model") -> Space:
    """The simulator's space: the table's domains and ladder, the honest fidelity grid, the target."""
    t = runs.table
    scales = [Scale(n, p) for n, p in runs.scales.items()]
    if target_scale is None:
        target_scale = max(runs.scales, key=runs.scales.get)
    if target_scale not in runs.scales:
        raise BomixError(f"--target-scale {target_scale!r} is not in the table's scales {sorted(runs.scales)}")
    if target_step is None:
        target_step = int(t.loc[t["scale"] == target_scale, "step"].max())
    grid = make_grid(runs, mode, (target_scale, int(target_step)))
    steps = t["step"].to_numpy()
    return Space(runs.domains, scales, min_steps=int(steps.min()), max_steps=int(steps.max()),
                 target=Fidelity(target_scale, int(target_step)), grid=grid)


def simulator_name(name: str, mode: str) -> str:
    """``<name>-<mode>``: pool and model builds of one table get different names."""
    return name if name.endswith(f"-{mode}") else f"{name}-{mode}"


def build(table: str | Path | LoggedRuns, out: str | Path, mode: str = "model", target_scale: str | None = None,
          target_step: int | None = None, objective=None, name: str | None = None, metrics: list[str] | None = None,
          holdout: float = 0.2, seed: int = 0, max_train: int = MAX_TRAIN, report: bool = True,
          workers: int | None = None, refit: bool = False, progress: bool = False,
          hyper_train: int = HYPER_TRAIN) -> Path:
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
        workers: processes for the per-metric fits (default: one per core, at most 4; 1 for < 4 metrics).
        refit: re-optimise the GP hyperparameters on all runs (default: reuse the held-out fit's, which
            makes the final fit one linear solve per metric).
        progress: progress bars on stderr.
        hyper_train: rows per metric the GP hyperparameters are optimised on (then conditioned on all
            ``max_train`` rows).

    Returns:
        The output directory. It is written whole or not at all: the files are made in a temporary folder
        and moved into place at the end, so a failure leaves no new folder and an earlier build untouched.
    """
    if mode not in MODES:
        raise BomixError(f"--mode must be one of {MODES}, got {mode!r}")
    if int(hyper_train) < 3 or int(max_train) < 3:
        raise BomixError(f"--max-train and --hyper-train must be >= 3, got {max_train} and {hyper_train}")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise BomixError(f"--workers must be >= 1 (leave it out for one per core, at most 4), got {workers}")
    runs = table if isinstance(table, LoggedRuns) else load(table)
    name = simulator_name(name or (Path(runs.source).stem if not isinstance(table, LoggedRuns) else "replay"), mode)
    if not isinstance(table, LoggedRuns) and objective is None:  # a `bomix export` keeps its campaign's objective
        from bomix.export import read_sidecar

        objective = read_sidecar(table).get("objective")
    space = make_space(runs, target_scale, int(target_step) if target_step is not None else None, mode)
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
    with _staging(out) as tmp:
        _write(tmp, runs, space, name, mode, obj, obj_cfg, chosen, holdout, seed, max_train, report, workers,
               refit, progress, hyper_train)
    return out


def _write(out: Path, runs: LoggedRuns, space: Space, name: str, mode: str, obj: Objective, obj_cfg,
           chosen: list[str], holdout: float, seed: int, max_train: int, report: bool, workers: int | None,
           refit: bool, progress: bool, hyper_train: int) -> None:
    """Write the simulator's files into ``out`` (an empty folder; see :func:`build` for the arguments)."""
    t = runs.table
    tps = None
    if runs.has_tokens:
        tps = float(np.median(t["tokens"].to_numpy(float) / t["step"].to_numpy(float)))
    meta = {
        "format_version": FORMAT_VERSION, "name": name, "mode": mode, "source": Path(str(runs.source)).name,
        "domains": list(runs.domains), "metrics": chosen,
        "scales": {s.name: s.params for s in space.scales},
        "min_steps": space.min_steps, "max_steps": space.max_steps, "step_grid": list(space.step_grid),
        "grid": space.grid.to_dict(),
        "target": {"scale": space.target.scale, "steps": space.target.steps},
        "objective": obj_cfg if obj_cfg is not None else runs.metrics[0], "objective_metrics": obj.metrics,
        "tokens_per_step": tps, "eval_steps": sorted(int(s) for s in np.unique(t["step"])),
        "n_runs": int(t["run_id"].nunique()), "n_rows": int(len(t)), "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    keep_cols = [*lead_columns("tokens" in t.columns), *runs.w_cols, *mcols(chosen)]
    t[keep_cols].to_csv(out / "runs.csv", index=False, float_format="%.8g")
    rep = None
    if mode == "model":
        radius = radii(logged_mixtures(t, runs.domains)[0])
        meta["trust"] = {"distance": "total variation to the nearest mixture logged at the fidelity",
                         "quantile": TRUST_QUANTILE,
                         "radius": {trust_key(f): round(r, 6) for f, r in sorted(radius.items(),
                                                                                key=lambda kv: (runs.scales[kv[0].scale], kv[0].steps))}}
        t0 = time.perf_counter()
        held_models = None
        if report and holdout > 0:
            rep, held_models = accuracy_report(space, runs, chosen, holdout, seed, max_train, obj, radius,
                                               workers=workers, progress=progress, hyper_train=hyper_train)
        elif report:
            rep = {"holdout_fraction": 0.0, "metrics": {}, "note": "no held-out fit (--holdout 0)", "verdicts": [],
                   "warnings": [f"no held-out fit (--holdout 0): the target {space.target} "
                                "could not be checked"]}
        reuse = None if refit or held_models is None else held_models
        models = fit_models(space, runs, t, chosen, seed, max_train, reuse=reuse, workers=workers, progress=progress,
                            desc="fit (all runs)", hyper_train=hyper_train)
        arrays = {}
        for j, m in enumerate(chosen):
            arrays.update(models[m].to_arrays(f"m{j}"))
        np.savez_compressed(out / "model.npz", **arrays)
        meta["fit_seconds"] = round(time.perf_counter() - t0, 2)
        meta["hyperparameters"] = "reused from the held-out fit" if reuse is not None else "fitted on all runs"
        meta["max_train"], meta["hyper_train"] = int(max_train), int(hyper_train)
        meta["model"] = ("per-fidelity mean/sd (thin-plate interpolation over s, t) + GP (RBF-ARD) over "
                         "[w, s, t] on standardised residuals")
        meta["warnings"] = list(rep.get("warnings", [])) if rep else []
        for w in meta["warnings"]:
            print(f"WARNING: simulator {name}: {w}", file=sys.stderr)
    elif report:
        counts = t.groupby(["scale", "step"])["run_id"].nunique().reset_index()
        counts["params"] = counts["scale"].map(runs.scales)
        counts = counts.sort_values(["params", "step"])
        rep = {"pool": [{"scale": str(r.scale), "step": int(r.step), "runs": int(r.run_id)}
                        for r in counts.itertuples()]}
    (out / "simulator.json").write_text(json.dumps(meta, indent=1))
    if mode == "model":
        meta = cache_optimum(out)
    if rep is not None:
        rep["mode"] = mode
        (out / "report.json").write_text(json.dumps(rep, indent=1))
        (out / "report.md").write_text(report_markdown(meta, rep))


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A temporary folder to build ``out`` in, moved into place when the block succeeds.

    A new ``out`` is the renamed folder; into an existing one (an earlier build) each file is moved
    with ``os.replace``, so its other files stay. On failure the temporary folder, and any folder made
    above ``out``, is removed; an OSError writing there becomes a one-line BomixError naming ``--out``.
    """
    if out.exists() and not out.is_dir():
        raise BomixError(f"--out {out} is a file: give a directory for the simulator (a new or an earlier build's)")
    existed = out.is_dir()
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # innermost first
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", suffix=".tmp", dir=out if existed else out.parent))
        yield tmp
        if existed:
            for f in sorted(tmp.iterdir()):
                os.replace(f, out / f.name)
            tmp.rmdir()
        else:
            os.rename(tmp, out)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for d in made:
            try:
                d.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError) and exc.filename:
            path = _as_out_path(Path(exc.filename), out, tmp)
            if path is not None:  # about --out (not, say, a file the fit reads): say so in one line
                exc.filename = str(path)
                msg = unwritable(exc, "--out")
                if msg is not None:
                    raise BomixError(msg) from None
        raise


def _as_out_path(path: Path, out: Path, tmp: Path | None) -> Path | None:
    """``path`` as the user sees it (a file in the temporary folder = that file in ``out``) when it is
    ``out``, a file in it or a folder above it; else None."""
    if path.name.startswith(f".{out.name}.build-"):  # the temporary folder itself
        return out
    if tmp is not None and tmp in path.parents:
        return out / path.relative_to(tmp)
    return path if path == out or out in path.parents or path in out.parents else None


def cache_optimum(out: str | Path) -> dict:
    """Search the model's optimum for the default objective at the target (inside the trust region) and
    store it in simulator.json, with the unconstrained model optimum and its distance from the logged
    target mixtures (the search takes seconds to tens of seconds; campaigns then start at once).

    Returns:
        The updated simulator.json content.
    """
    from bomix.backends.replay.backend import ReplayBackend, optimum_key
    from bomix.backends.truth import dense_optimum

    sim = ReplayBackend(str(out))
    obj, fid = sim.default_objective, sim.space.target
    m, v = sim.optimum(obj, fid)
    meta_file = Path(out) / "simulator.json"
    meta = json.loads(meta_file.read_text())
    meta["optima"] = {optimum_key(obj, fid): {"mixture": m.to_list(), "value": float(v)}}
    tr = sim.trust_region()
    if tr is not None and "trust" in meta:
        w_free, v_free = dense_optimum(lambda W: obj.values(sim.predict(W, fid.scale, fid.steps, obj.metrics)),
                                       sim.space.k, n_random=20000)
        meta["trust"]["optimum"] = {
            "value": float(v), "distance": float(tr.distance(m.weights[None], fid)[0]),
            "unconstrained_value": float(v_free), "unconstrained_mixture": [float(x) for x in w_free],
            "unconstrained_distance": float(tr.distance(w_free[None], fid)[0]), "radius": tr.radius_at(fid)}
    meta_file.write_text(json.dumps(meta, indent=1))
    return meta
