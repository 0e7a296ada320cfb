"""``bomix show``: one report of a study or campaign directory (status, budget, recommendation, runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.layout import STORE_FILE, CampaignLayout
from bomix.store import StoreReader


def _objective(meta: dict) -> Objective:
    return Objective(tuple((m, float(w)) for m, w in meta["weights"].items()), float(meta.get("sign", 1.0)),
                     meta.get("name", ""))


def report(directory: Path, n_runs: int = 10) -> dict:
    """JSON-able report; a study's recommendation comes with the policy's prediction (mean, sd)."""
    if not CampaignLayout(directory).store.is_file():
        raise BomixError(f"{directory} has no {STORE_FILE}: give a study or campaign directory")
    store = StoreReader(directory)
    try:
        is_study = store.get_meta("study") is not None
        domains = store.get_meta("domains")
        if not domains:
            raise BomixError(f"{directory} holds no campaign yet (no domains recorded)")
        objective = _objective(store.get_meta("objective"))
        results, pending, spent = store.load(domains)
        budget = store.get_meta("budget")
        last = store.last_recommendation()
        policy_name = store.get_meta("policy")
        target = (store.get_meta("space") or {}).get("target")
    finally:
        store.close()
    rec = predicted = None
    if is_study:
        from bomix.study import Study

        with Study.load(directory) as study:
            r = study.recommend()
        rec, predicted = r["mixture"], r["predicted"]
    elif last is not None:
        rec = dict(zip(domains, last["mixture"]))
        summary_file = CampaignLayout(directory).summary
        if summary_file.is_file():
            try:
                predicted = json.loads(summary_file.read_text()).get("predicted")
            except json.JSONDecodeError:
                predicted = None
    rows = []
    for r in results:
        y = objective.on_curve(r.curve)
        rows.append({"run_id": r.spec.run_id, "status": r.status, "scale": r.spec.scale, "steps": int(r.spec.steps),
                     "objective": float(y[-1]) if len(y) and np.isfinite(y[-1]) else None,
                     "top": _top(domains, r.spec.mixture.weights)})
    for s in pending:
        rows.append({"run_id": s.run_id, "status": "pending", "scale": s.scale, "steps": int(s.steps),
                     "objective": None, "top": _top(domains, s.mixture.weights)})
    rows.sort(key=lambda x: x["run_id"])
    done = budget is not None and spent >= float(budget) - 1e-9
    status = "running" if pending else ("budget spent" if done else "open")
    return {"directory": str(directory), "kind": "study" if is_study else "campaign", "policy": policy_name,
            "objective": objective.name, "status": status, "budget": budget, "budget_used": spent,
            "n_finished": len(results), "n_ok": sum(r.ok for r in results), "n_pending": len(pending),
            "target": target, "recommendation": rec, "predicted": predicted,
            "true_value": None if last is None else last.get("true_value"), "runs": rows[-n_runs:] if n_runs else []}


def _top(domains, w, k: int = 3) -> str:
    order = np.argsort(-np.asarray(w))[:k]
    return " ".join(f"{domains[i]}={w[i]:.2f}" for i in order)


def format_report(rep: dict) -> str:
    """The report as a few lines of text and a small table."""
    budget = "?" if rep["budget"] is None else f"{float(rep['budget']):.4g}"
    lines = [f"{rep['kind']} {rep['directory']}: {rep['status']} (policy {rep['policy']}, objective {rep['objective']})",
             f"budget: {rep['budget_used']:.4g} of {budget} target-run equivalents used; "
             f"{rep['n_finished']} runs finished ({rep['n_ok']} ok), {rep['n_pending']} pending"]
    if rep["recommendation"] is not None:
        mix = ", ".join(f"{d}={w:.3f}" for d, w in rep["recommendation"].items())
        pred = rep["predicted"]
        tgt = rep.get("target") or {}
        at = f" at {tgt.get('scale')}@{tgt.get('steps')}" if tgt else ""
        lines.append(f"recommendation: {mix}")
        if pred is not None:
            lines.append(f"predicted {rep['objective']}{at}: {pred['mean']:.4f} +- {pred['sd']:.4f}")
        if rep.get("true_value") is not None:
            lines.append(f"true {rep['objective']}{at} (simulator): {rep['true_value']:.4f}")
    if rep["runs"]:
        lines.append("")
        lines.append(f"{'run':<8} {'status':<9} {'scale':<8} {'steps':>7} {'objective':>10}  top weights")
        for r in rep["runs"]:
            obj = "" if r["objective"] is None else f"{r['objective']:.4f}"
            lines.append(f"{r['run_id']:<8} {r['status']:<9} {r['scale']:<8} {r['steps']:>7} {obj:>10}  {r['top']}")
    return "\n".join(lines)
