"""Campaign and study directories -> plain tables for the HTML report and the dashboard.

The one reader here is :class:`bomix.store.StoreReader` (read-only, every value checked) plus
:func:`bomix.study.show.report` (the status and the summary ``bomix show`` prints); nothing in this module
knows the store's schema. Everything returned is plain data (pandas tables, dicts, strings), ready for
:mod:`bomix.report.figures` and :mod:`bomix.report.page`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError

#: how many runner-up mixtures (the best runs at the highest fidelity reached) a campaign shows
N_RUNNERS_UP = 5


@dataclass
class CampaignData:
    """What the report shows of one campaign or study directory.

    Tables (pandas, one row each; weights in ``w:<domain>`` columns, the store's export convention):
        runs: every dispatched run in dispatch order: ``run_id, status`` (ok | failed | diverged | pending),
            ``fidelity`` (``"60M@1000"``), ``scale, steps, charged`` (target-run equivalents), ``cum_cost`` (total
            charged once it was dispatched), ``objective`` (at its last step; NaN unless ok) and the weights.
        recommendations: ``n_finished, budget_used, true_value, regret, extrapolated``, the policy's prediction of
            it at the target ``pred_mean, pred_sd`` (NaN: no model, or a store from before predictions were stored),
            ``fallback`` (True: a numerical fallback, not the model's answer; None: unknown) and the weights.
        fidelity_cost: per fidelity (cheapest first): ``fidelity, runs, charged``.
        runners_up: the best ok runs at the highest fidelity any ok run reached (lowest objective first).
    """

    directory: str
    label: str
    kind: str  # campaign | study
    status: str
    policy: str | None
    backend: str | None
    objective: str
    domains: list[str]
    target: str | None  # "1B@20000"
    runs: pd.DataFrame
    recommendations: pd.DataFrame
    fidelity_cost: pd.DataFrame
    runners_up: pd.DataFrame
    fidelities: list[str]  # every fidelity of the runs, cheapest first
    summary: dict  # the summary `bomix show` prints (summary.json's keys, read live)
    summary_text: str  # that summary for a person (`bomix show`'s text)
    predicted: dict | None  # {"mean", "sd"} of the latest recommendation at the target, where the policy has a model
    optimum: float | None  # the simulator's optimum value (None off simulators)
    best_observed: dict | None = None  # the best run at the target fidelity {"run_id", "value"} (None: none ran)

    @property
    def has_truth(self) -> bool:
        """Whether the store holds true values (and regrets) of the recommendations: a simulator campaign."""
        return bool(len(self.recommendations)) and bool(self.recommendations["true_value"].notna().any())

    @property
    def has_predictions(self) -> bool:
        """Whether the store holds the policy's prediction (mean +- sd) of at least one recommendation."""
        return bool(len(self.recommendations)) and bool(self.recommendations["pred_mean"].notna().any())

    @property
    def final(self) -> dict:
        """The comparison row: policy, status, budget used, runs, final regret / true value / best observed."""
        s = self.summary
        rec = self.recommendations
        last = rec.iloc[-1] if len(rec) else None
        return {"campaign": self.label, "policy": self.policy, "backend": self.backend, "status": self.status,
                "budget": _num(s.get("budget")), "budget_used": _num(s.get("budget_used")),
                "runs": int((self.runs["status"] != "pending").sum()),
                "pending": int((self.runs["status"] == "pending").sum()),
                "regret": None if last is None else _num(last["regret"]),
                "true_value": None if last is None else _num(last["true_value"]),
                "best_observed": None if self.best_observed is None else _num(self.best_observed.get("value")),
                "stop_reason": s.get("stop_reason")}


@dataclass
class ReportData:
    """Every directory found under the paths given (in path order), and those that could not be read."""

    campaigns: list[CampaignData]
    errors: list[dict] = field(default_factory=list)  # {"directory", "error"}: unreadable ones, said on the page


def find_directories(paths: list[str | Path]) -> list[Path]:
    """Campaign and study directories under ``paths`` (each one such directory or a folder holding them, e.g. a
    sweep), finished or still running: :func:`bomix.bench.loading.find_campaigns` finds both."""
    from bomix.bench.loading import find_campaigns

    finished, running = find_campaigns(paths)
    return sorted(set(finished) | {Path(s["campaign"]) for s in running})


def load(paths: list[str | Path], *, allow_empty: bool = False) -> ReportData:
    """Read every directory under ``paths``; a directory that cannot be read becomes an entry of ``errors``.

    Raises:
        BomixError: a path does not exist, or (unless ``allow_empty``) nothing is found.
    """
    dirs = find_directories(paths)
    if not dirs and not allow_empty:
        raise BomixError(f"no campaign or study directory (with store.sqlite) under {', '.join(map(str, paths))}: "
                         "run a campaign first")
    labels = _labels(dirs)
    out = ReportData([])
    for d in dirs:
        try:
            out.campaigns.append(load_campaign(d, label=labels[d]))
        except BomixError as exc:
            out.errors.append({"directory": labels[d], "error": " ".join(str(exc).split())})
    return out


def _labels(dirs: list[Path]) -> dict[Path, str]:
    """Short names: each directory relative to the folder they share (its own name when it is alone)."""
    if len(dirs) == 1:
        return {dirs[0]: dirs[0].name or str(dirs[0])}
    common = Path(os.path.commonpath([str(d) for d in dirs])) if dirs else Path()
    return {d: str(d.relative_to(common)) if d != common else d.name for d in dirs}


def load_campaign(directory: str | Path, label: str | None = None) -> CampaignData:
    """One campaign or study directory, read-only (safe while a campaign writes it: SQLite readers).

    Raises:
        BomixError: no store, not a bomix store, damaged, or no campaign recorded in it yet.
    """
    from bomix.store import StoreReader
    from bomix.study.show import format_report, report

    directory = Path(directory)
    rep = report(directory, n_runs=0)
    with StoreReader(directory) as store:
        domains = list(store.get_meta("domains") or [])
        objective = store.objective()
        space = store.get_meta("space") or {}
        optimum = store.get_meta("optimum")
        recs = store.recommendation_rows()  # first: every run a recommendation names is read below
        results, pending, _ = store.load(domains, objective=objective)
        charged = store.charges()
    order = _fidelity_order(space)
    runs = _runs_table(results, pending, charged, domains, objective)
    fids = sorted(runs["fidelity"].unique().tolist(), key=order) if len(runs) else []
    s = rep["summary"]
    return CampaignData(
        directory=str(directory), label=label or directory.name, kind=rep["kind"], status=rep["status"],
        policy=rep.get("policy"), backend=s.get("backend"), objective=rep["objective"], domains=domains,
        target=_fid(space.get("target")), runs=runs, recommendations=_recs_table(recs, domains),
        fidelity_cost=_fidelity_cost(runs, fids), runners_up=runners_up(runs, fids),
        fidelities=fids, summary=s, summary_text=format_report(rep), predicted=_prediction(rep.get("predicted")),
        optimum=_num(optimum.get("value")) if isinstance(optimum, dict) else None,
        best_observed=s.get("best_observed") if isinstance(s.get("best_observed"), dict) else None)


def _fid(f: Any) -> str | None:
    """``"1B@20000"`` from a ``{"scale", "steps"}`` dict (None otherwise)."""
    if isinstance(f, dict) and "scale" in f and "steps" in f:
        return f"{f['scale']}@{int(f['steps'])}"
    return None


def _fidelity_order(space: dict):
    """A sort key for fidelity labels: scale by its parameter count (the ladder's order), then steps."""
    params = {}
    for i, sc in enumerate(space.get("scales") or []):
        if isinstance(sc, dict) and "name" in sc:
            p = _num(sc.get("params"))
            params[str(sc["name"])] = p if p is not None else float(i)

    def key(label: str) -> tuple:
        scale, _, steps = label.rpartition("@")
        return (params.get(scale, math.inf), scale, int(steps) if steps.isdigit() else 0)

    return key


def _runs_table(results: list, pending: list, charged: dict[str, float], domains: list[str], objective) -> pd.DataFrame:
    """Every dispatched run in dispatch order (see :class:`CampaignData`)."""
    specs = {r.spec.run_id: (r.spec, r.status, r) for r in results}
    specs.update({s.run_id: (s, "pending", None) for s in pending})
    rows = []
    total = 0.0
    for rid, cost in charged.items():  # dispatch order
        total += cost
        if rid not in specs:  # dispatched after the runs were read
            continue
        spec, status, result = specs[rid]
        y = np.nan
        if result is not None and result.ok:
            values = objective.on_curve(result.curve)
            y = float(values[-1]) if len(values) else np.nan
        row = {"run_id": rid, "status": status, "fidelity": f"{spec.scale}@{int(spec.steps)}", "scale": spec.scale,
               "steps": int(spec.steps), "charged": cost, "cum_cost": total, "objective": y}
        row.update({f"w:{d}": float(w) for d, w in zip(domains, spec.mixture.weights)})
        rows.append(row)
    cols = ["run_id", "status", "fidelity", "scale", "steps", "charged", "cum_cost", "objective"]
    return pd.DataFrame(rows, columns=cols + [f"w:{d}" for d in domains])


def _recs_table(recs: list[dict], domains: list[str]) -> pd.DataFrame:
    """The recommendations, in order (see :class:`CampaignData`)."""
    rows = []
    for r in recs:
        row = {"n_finished": int(r["n_finished"]), "budget_used": float(r["budget_used"]),
               "true_value": _nan(r.get("true_value")), "regret": _nan(r.get("regret")),
               "extrapolated": r.get("extrapolated"), "pred_mean": _nan(r.get("pred_mean")),
               "pred_sd": _nan(r.get("pred_sd")), "fallback": r.get("fallback")}
        row.update({f"w:{d}": float(w) for d, w in zip(domains, r["mixture"])})
        rows.append(row)
    cols = ["n_finished", "budget_used", "true_value", "regret", "extrapolated", "pred_mean", "pred_sd", "fallback"]
    return pd.DataFrame(rows, columns=cols + [f"w:{d}" for d in domains])


def _fidelity_cost(runs: pd.DataFrame, fids: list[str]) -> pd.DataFrame:
    """Runs and charged cost per fidelity, cheapest fidelity first (pending runs are charged too)."""
    if not len(runs):
        return pd.DataFrame(columns=["fidelity", "runs", "charged"])
    g = runs.groupby("fidelity").agg(runs=("run_id", "size"), charged=("charged", "sum"))
    return g.reindex(fids).reset_index()


def runners_up(runs: pd.DataFrame, fids: list[str], n: int = N_RUNNERS_UP) -> pd.DataFrame:
    """The ``n`` best ok runs at the highest fidelity any ok run reached, lowest objective first."""
    ok = runs[(runs["status"] == "ok") & runs["objective"].notna()]
    if not len(ok):
        return runs.iloc[0:0]
    top = max(ok["fidelity"].unique(), key=fids.index)
    return ok[ok["fidelity"] == top].sort_values(["objective", "run_id"]).head(n).reset_index(drop=True)


def _prediction(p: Any) -> dict | None:
    if isinstance(p, dict) and _num(p.get("mean")) is not None and _num(p.get("sd")) is not None:
        return {"mean": float(p["mean"]), "sd": float(p["sd"])}
    return None


def _num(x: Any) -> float | None:
    """``x`` as a finite float, else None (summary values may be anything)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _nan(x: Any) -> float:
    v = _num(x)
    return np.nan if v is None else v
