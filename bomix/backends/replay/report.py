"""The accuracy report of a replay simulator: held-out fit, per-fidelity verdicts, gates, trust region.

The report opens with a verdict per fidelity for the *objective* (runs held out, Spearman and R^2
across mixtures); a target fidelity that could not be checked is said so plainly. The build warns on
stderr (``WARNING: ...``) when the target's ranking accuracy is below ``SPEARMAN_MIN``, when an R^2
is negative, or when the target could not be checked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bomix.backends.replay.fitting import encode, fit_models
from bomix.backends.replay.model import HYPER_TRAIN, MetricModel
from bomix.backends.replay.trust import holdout_check
from bomix.objective import Objective
from bomix.runtable import LoggedRuns, mcol
from bomix.space import Fidelity, Space

#: a fidelity's ranking of mixtures is "ok" from this held-out Spearman on
SPEARMAN_MIN = 0.8
#: a scale needs this many runs before some are held out
MIN_RUNS_TO_HOLD = 5
#: held-out runs a fidelity needs for a verdict
MIN_HELD = 3


def split_runs(runs: LoggedRuns, frac: float, seed: int) -> np.ndarray:
    """Held-out run ids: ``frac`` of the runs of each scale (none from a scale with < 5 runs)."""
    rng = np.random.default_rng(seed)
    info = runs.runs()
    held = []
    for _, g in info.groupby("scale"):
        if len(g) >= MIN_RUNS_TO_HOLD:
            n = max(1, int(round(frac * len(g))))
            held.extend(rng.choice(g["run_id"].to_numpy(), n, replace=False).tolist())
    return np.array(held, dtype=object)


def _r2(y: np.ndarray, p: np.ndarray) -> float | None:
    ss = float(((y - y.mean()) ** 2).sum())
    return None if ss <= 0 else float(1.0 - ((y - p) ** 2).sum() / ss)


def _spearman(y: np.ndarray, p: np.ndarray) -> float | None:
    if np.ptp(y) == 0 or np.ptp(p) == 0:
        return None
    return float(spearmanr(y, p).statistic)


def _verdict(spearman: float | None, r2: float | None) -> str:
    if spearman is None or r2 is None:
        return "not checked"
    return "ok" if spearman >= SPEARMAN_MIN and r2 >= 0 else "weak"


def accuracy_report(space: Space, runs: LoggedRuns, metrics: list[str], frac: float, seed: int,
                    max_train: int, objective: Objective, radius: dict[Fidelity, float] | None = None,
                    workers: int | None = None, progress: bool = False,
                    hyper_train: int = HYPER_TRAIN) -> tuple[dict, dict[str, MetricModel] | None]:
    """Fit on the other runs, predict held-out runs: per metric and for the objective, R^2 and Spearman
    across mixtures per (scale, step); verdicts and gate warnings; the trust radius checked.

    Returns:
        ``(report, models)``: the report dict and the held-out fit's models (None when nothing was held
        out), whose hyperparameters the full build reuses.
    """
    held = split_runs(runs, frac, seed)
    t = runs.table
    test_mask = t["run_id"].isin(set(held)).to_numpy()
    rep: dict = {"holdout_fraction": frac, "seed": seed, "n_test_runs": int(len(held)), "metrics": {},
                 "spearman_min": SPEARMAN_MIN}
    if not test_mask.any():
        rep["note"] = f"too few runs per scale to hold any out (need >= {MIN_RUNS_TO_HOLD} at a scale)"
        rep["objective"] = {"by_fidelity": [], "pooled_r2": None}
        rep["verdicts"] = verdicts(space, runs, rep["objective"]["by_fidelity"], held)
        rep["warnings"] = gate_warnings(space, rep)
        return rep, None
    models = fit_models(space, runs, t[~test_mask], metrics, seed, max_train, workers=workers, progress=progress,
                        desc="fit (held-out split)", hyper_train=hyper_train)
    test = t[test_mask]
    x = encode(space, runs, test)
    rep["n_train_runs"] = int(t.loc[~test_mask, "run_id"].nunique())
    preds = {}
    for m in metrics:
        y = test[mcol(m)].to_numpy(float)
        ok = np.isfinite(y)
        pred = np.full(len(y), np.nan)
        pred[ok] = models[m].predict(x[ok])
        preds[m] = pred
        rep["metrics"][m] = {"pooled_r2": _r2(y[ok], pred[ok]), "by_fidelity": _by_fidelity(runs, test, y, pred)}
    y_obj = objective.values({m: test[mcol(m)].to_numpy(float) for m in objective.metrics})
    p_obj = objective.values({m: preds[m] for m in objective.metrics})
    ok = np.isfinite(y_obj) & np.isfinite(p_obj)
    rep["objective"] = {"name": objective.name, "pooled_r2": _r2(y_obj[ok], p_obj[ok]) if ok.any() else None,
                        "by_fidelity": _by_fidelity(runs, test, y_obj, p_obj)}
    rep["verdicts"] = verdicts(space, runs, rep["objective"]["by_fidelity"], held)
    if radius is not None:
        rep["trust_check"] = holdout_check(t[~test_mask], test, runs.domains, np.abs(y_obj - p_obj), radius)
    rep["warnings"] = gate_warnings(space, rep)
    return rep, models


def _by_fidelity(runs: LoggedRuns, test: pd.DataFrame, y: np.ndarray, pred: np.ndarray) -> list[dict]:
    ok = np.isfinite(y) & np.isfinite(pred)
    yy, pp = y[ok], pred[ok]
    sc, st = test["scale"].to_numpy()[ok], test["step"].to_numpy()[ok]
    rows = []
    for (scale, step), idx in pd.DataFrame({"s": sc, "t": st}).groupby(["s", "t"]).indices.items():
        if len(idx) < MIN_HELD:
            continue
        r2, sp = _r2(yy[idx], pp[idx]), _spearman(yy[idx], pp[idx])
        rows.append({"scale": str(scale), "params": runs.scales[str(scale)], "step": int(step), "n": int(len(idx)),
                     "r2": r2, "spearman": sp, "mae": float(np.mean(np.abs(yy[idx] - pp[idx]))),
                     "verdict": _verdict(sp, r2)})
    rows.sort(key=lambda r: (r["params"], r["step"]))
    return rows


def verdicts(space: Space, runs: LoggedRuns, rows: list[dict], held: np.ndarray) -> list[dict]:
    """One verdict per fidelity of the grid (the objective): ok / weak / not checked (with the reason)."""
    by = {(r["scale"], r["step"]): r for r in rows}
    t = runs.table
    out = []
    for f in space.fidelity_grid():
        n_runs = int(t.loc[(t["scale"] == f.scale) & (t["step"] == f.steps), "run_id"].nunique())
        r = by.get((f.scale, f.steps))
        v = {"scale": f.scale, "step": f.steps, "target": f == space.target, "runs": n_runs}
        if r is not None:
            v.update(held_out=r["n"], spearman=r["spearman"], r2=r["r2"], verdict=r["verdict"])
        else:
            n_held = int(t.loc[(t["scale"] == f.scale) & (t["step"] == f.steps) & t["run_id"].isin(set(held)),
                               "run_id"].nunique())
            scale_runs = int(t.loc[t["scale"] == f.scale, "run_id"].nunique())
            why = (f"only {scale_runs} runs at scale {f.scale}: a scale needs >= {MIN_RUNS_TO_HOLD} to hold some out"
                   if scale_runs < MIN_RUNS_TO_HOLD else
                   f"{n_held} held-out run(s) here: a verdict needs >= {MIN_HELD}")
            v.update(held_out=n_held, spearman=None, r2=None, verdict="not checked", reason=why)
        out.append(v)
    return out


def gate_warnings(space: Space, rep: dict) -> list[str]:
    """The accuracy gates: target not checked, target Spearman < SPEARMAN_MIN, any R^2 < 0."""
    out = []
    tgt = str(space.target)
    for v in rep["verdicts"]:
        if v["target"] and v["verdict"] == "not checked":
            out.append(f"the target {tgt} could not be checked ({v['reason']}): its regrets rest on an "
                       "unvalidated model")
        elif v["target"] and v["spearman"] is not None and v["spearman"] < SPEARMAN_MIN:
            out.append(f"the model ranks mixtures poorly at the target {tgt}: held-out Spearman "
                       f"{v['spearman']:.2f} < {SPEARMAN_MIN} ({v['held_out']} runs): regrets on it are unreliable")
    for r in rep.get("objective", {}).get("by_fidelity", []):
        if r["r2"] is not None and r["r2"] < 0:
            out.append(f"held-out R^2 {r['r2']:.2f} < 0 at {Fidelity(r['scale'], r['step'])}: the model predicts the objective "
                       "worse than its mean there")
    pooled = rep.get("objective", {}).get("pooled_r2")
    if pooled is not None and pooled < 0:
        out.append(f"pooled held-out R^2 of the objective is {pooled:.2f} < 0: the model is worse than a constant")
    return out


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def report_markdown(meta: dict, rep: dict, max_rows: int = 12) -> str:
    """The accuracy report as markdown: verdicts and warnings first, then the trust region and per metric
    the target fidelity and each scale's last step."""
    lines = [f"# Accuracy report: {meta['name']} ({meta['mode']} mode)", ""]
    grid = meta.get("grid", {})
    size = meta.get("scales", {})
    points = sorted(grid.get("points", []), key=lambda p: (size.get(p[0], 0), p[1]))
    lines += ["Fidelities with logged data (the only ones this simulator answers): "
              + ", ".join(str(Fidelity(s, t)) for s, t in points)
              + ("; trusted step ranges " + ", ".join(f"{s}: [{r[0]}, {r[1]}]" for s, r in grid["ranges"].items())
                 if grid.get("ranges") else ""), ""]
    if meta["mode"] == "pool":
        lines += ["Pool mode replays logged points exactly: no model error. Logged runs per fidelity:", "",
                  "| scale | step | runs |", "|---|---|---|"]
        lines += [f"| {r['scale']} | {r['step']} | {r['runs']} |" for r in rep["pool"]]
        return "\n".join(lines) + "\n"
    lines += ["## Verdict (objective, held-out runs)", "",
              f"ok = Spearman across mixtures >= {rep.get('spearman_min', SPEARMAN_MIN)} and R^2 >= 0 on held-out runs.", "",
              "| scale | step | runs | held out | Spearman | R^2 | verdict |", "|---|---|---|---|---|---|---|"]
    for v in rep.get("verdicts", []):
        lines.append(f"| {v['scale']}{' (target)' if v['target'] else ''} | {v['step']} | {v['runs']} | {v['held_out']} | "
                     f"{_fmt(v['spearman'])} | {_fmt(v['r2'])} | {v['verdict']}"
                     + (f": {v['reason']}" if v.get("reason") else "") + " |")
    lines.append("")
    if rep.get("warnings"):
        lines += ["Warnings:", ""] + [f"- {w}" for w in rep["warnings"]] + [""]
    trust = meta.get("trust")
    if trust:
        lines += ["## Trust region", "",
                  f"A query is trusted within total-variation distance r of a mixture logged at its fidelity; r = the "
                  f"{trust['quantile']:.0%} quantile of the logged mixtures' nearest-neighbour distances there. "
                  "`true_value` outside it is flagged as extrapolated; the optimum is searched inside it.", "",
                  "| fidelity | r |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in trust["radius"].items()]
        lines.append("")
        if rep.get("trust_check"):
            lines += ["Held-out check (distance to the nearest *training* mixture at the fidelity; objective MAE):", "",
                      "| fidelity | r | inside | MAE inside | outside | MAE outside |", "|---|---|---|---|---|---|"]
            lines += [f"| {Fidelity(c['scale'], c['step'])} | {c['radius']:.3f} | {c['n_inside']} | {_fmt(c['mae_inside'])} | "
                      f"{c['n_outside']} | {_fmt(c['mae_outside'])} |"
                      for c in sorted(rep["trust_check"], key=lambda c: (size.get(c["scale"], 0), c["step"]))]
            lines.append("")
        opt = trust.get("optimum")
        if opt:
            lines += [f"Optimum at the target (inside the trust region): {opt['value']:.4f}; unconstrained model "
                      f"optimum {opt['unconstrained_value']:.4f} at TV distance {opt['unconstrained_distance']:.3f} "
                      f"from the logged target mixtures (radius {opt['radius']:.3f}).", ""]
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
                  f"pooled R^2 {_fmt(r['pooled_r2'])}; {len(rows)} fidelities with >= {MIN_HELD} held-out runs"
                  + (f" ({len(shown)} shown)" if len(shown) < len(rows) else ""), "",
                  "| scale | step | n | R^2 | Spearman | MAE |", "|---|---|---|---|---|---|"]
        lines += [f"| {x['scale']}{' (target)' if (x['scale'], x['step']) == tgt else ''} | {x['step']} | {x['n']} | "
                  f"{_fmt(x['r2'])} | {_fmt(x['spearman'])} | {_fmt(x['mae'])} |" for x in shown]
        lines.append("")
    return "\n".join(lines) + "\n"
