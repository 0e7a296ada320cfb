"""``bomix show``: one report of a study or campaign directory (status, budget, recommendation, runs)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bomix.errors import BomixError
from bomix.layout import STORE_FILE, CampaignLayout
from bomix.phases import schedule_of
from bomix.store import StoreReader


#: a study's pending run older than this may have lost its worker (a study's workers hold no lock, so
#: age is all ``show`` can go by); a campaign's pending runs are orphaned when its lock is not held
ORPHAN_AFTER_S = 24 * 3600.0


def report(directory: Path, n_runs: int = 10, orphan_after: float = ORPHAN_AFTER_S) -> dict:
    """JSON-able report; a study's recommendation comes with the policy's prediction (mean, sd).

    Read-only: the store is opened ``mode=ro`` and every value read is checked. Each pending run is listed
    with its age; it is flagged ``orphaned`` when the campaign's lock is not held (nobody runs the
    campaign), or, in a study, when it is older than ``orphan_after`` seconds.
    """
    directory = Path(directory)
    if not CampaignLayout(directory).store.is_file():
        raise BomixError(f"{directory} has no {STORE_FILE}: give a study or campaign directory")
    with StoreReader(directory) as store:
        is_study = store.get_meta("study") is not None
    st = _read_study(directory) if is_study else _read_campaign(directory)
    results, pending, spent, budget, last = st.results, st.pending, st.spent, st.budget, st.last
    lock_held = None if is_study else campaign_lock_held(directory)
    now = time.time()
    ages = {s.run_id: max(0.0, now - st.log.dispatched_at[s.run_id]) for s in pending}
    orphaned = {rid: (age > orphan_after) if is_study else (lock_held is False) for rid, age in ages.items()}
    rows = _run_rows(st, ages, orphaned)
    done = budget is not None and spent >= float(budget) - 1e-9
    n_orphaned = sum(orphaned.values())
    status = _status(is_study, lock_held, len(pending), n_orphaned, done)
    if status == "open" and _current(st.saved, results, pending) and st.saved.get("stop_reason"):
        status = "done"  # stopped by another condition (max_runs, the policy's design, ...): summary.json says which
    return {"directory": str(directory), "kind": "study" if is_study else "campaign", "policy": st.policy_name,
            "objective": st.objective.name, "status": status, "budget": budget, "budget_used": spent,
            "n_finished": len(results), "n_ok": sum(r.ok for r in results), "n_pending": len(pending),
            "n_orphaned": n_orphaned, "lock_held": lock_held, "orphan_after_s": orphan_after if is_study else None,
            "oldest_pending_age_s": round(max(ages.values()), 1) if ages else None,
            "target": st.target, "recommendation": st.rec, "predicted": st.predicted,
            "true_value": None if last is None else last.get("true_value"), "runs": rows[-n_runs:] if n_runs else [],
            "summary": _summary_view(st, directory, is_study, status)}


@dataclass
class _State:
    """What :func:`report` reads from a study or a campaign directory (closed again by then)."""

    results: list  # finished runs (RunResult)
    pending: list  # dispatched, unfinished runs (RunSpec)
    spent: float
    budget: float | None
    objective: Any
    domains: list[str]
    log: Any  # the run log (its ``dispatched_at``: run_id -> time)
    last: dict | None  # the store's last recommendation
    policy_name: str | None
    target: dict | None
    rec: dict | None  # domain -> weight of the recommendation
    predicted: dict | None  # {"mean", "sd"} of the recommendation, where known
    optimum: dict | None = None  # the simulator's optimum {"mixture", "value"} (campaigns on a simulator)
    best_rec: dict | None = None  # the recommendation with the lowest true value so far (simulators)
    saved: dict | None = None  # summary.json as written at the end of the last run (None: absent, unreadable)
    best_observed: dict | None = None  # the best run at the target fidelity (studies: read live)
    phases: list[str] | None = None  # the phases' names of a multi-phase space (bomix.phases), in order


def _read_study(directory: Path) -> _State:
    """A study's runs, budget and recommendation (with the policy's prediction), read-only."""
    from bomix.study import Study
    from bomix.summary import best_observed

    with Study.load(directory, read_only=True) as study:
        history = study.history()
        r = study.recommend()
        store = study.store
        st = _State(history.results, history.pending, history.spent, history.budget, study.problem.objective,
                    list(study.space.domains), study._runs, store.last_recommendation(), store.get_meta("policy"),
                    (store.get_meta("space") or {}).get("target"), r["mixture"], r["predicted"],
                    best_observed=best_observed(history), phases=_phase_names(store.get_meta("space")))
    return st


def _read_campaign(directory: Path) -> _State:
    """A campaign's runs, budget and last recommendation (its prediction from ``summary.json`` if there)."""
    with StoreReader(directory) as store:
        domains = store.get_meta("domains")
        if not domains:
            raise BomixError(f"{directory} holds no campaign yet (no domains recorded)")
        objective = store.objective()
        if objective is None:
            raise BomixError(f"{directory} records no objective: is it a campaign directory?")
        log = store.runs(domains, objective=objective)
        results, pending, spent = log.refresh()
        budget = store.get_meta("budget")
        last = store.last_recommendation()
        policy_name = store.get_meta("policy")
        target = (store.get_meta("space") or {}).get("target")
        optimum = store.get_meta("optimum")
        best_rec = store.best_recommendation()
        phases = _phase_names(store.get_meta("space"))
    rec = predicted = None
    saved = _saved_summary(directory)
    if last is not None:
        rec = dict(zip(domains, last["mixture"]))
        if _current(saved, results, pending):  # a prediction made before later runs is not this recommendation's
            predicted = _summary_prediction(saved)
    return _State(results, pending, spent, budget, objective, domains, log, last, policy_name, target, rec, predicted,
                  optimum=optimum, best_rec=best_rec, saved=saved, phases=phases)


def _phase_names(space_meta) -> list[str] | None:
    """The phases' names recorded in a store's ``space`` meta (None: no phases, or not a list of named phases)."""
    phases = space_meta.get("phases") if isinstance(space_meta, dict) else None
    if not isinstance(phases, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in phases):
        return None
    return [p["name"] for p in phases] or None


def _saved_summary(directory: Path) -> dict | None:
    """A campaign's ``summary.json`` as a dict; None if absent or unreadable (it is only ever a display aid)."""
    summary_file = CampaignLayout(directory).summary
    if not summary_file.is_file():
        return None
    try:
        summary = json.loads(summary_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return summary if isinstance(summary, dict) else None


def _current(saved: dict | None, results: list, pending: list) -> bool:
    """Whether summary.json was written after the campaign's last run (same number of runs, none pending)."""
    return isinstance(saved, dict) and saved.get("n_runs") == len(results) and not pending


def _summary_prediction(summary: dict | None) -> dict | None:
    """The ``predicted`` {"mean", "sd"} of a campaign's summary; None if absent or of another shape."""
    pred = summary.get("predicted") if isinstance(summary, dict) else None
    return pred if isinstance(pred, dict) and {"mean", "sd"} <= set(pred) else None


def _summary_view(st: _State, directory: Path, is_study: bool, status: str) -> dict:
    """The summary that :func:`bomix.summary_text.format_summary` shows, read live from the store: summary.json's
    keys (budget, runs per fidelity, recommendation, true value, regret, optimum, ...). From the saved summary.json
    it takes only what the store cannot say: uniform weights' regret, the backend's name, and, when it was written
    after the last run (same number of runs, none pending), the stop reason, the prediction and the best observed
    run."""
    saved = st.saved or {}
    specs = [r.spec for r in st.results] + list(st.pending)
    tgt = st.target if isinstance(st.target, dict) else {}
    t_scale, t_steps = tgt.get("scale"), tgt.get("steps")
    fids: dict[str, int] = {}
    for spec in specs:
        key = f"{spec.scale}@{int(spec.steps)}"
        fids[key] = fids.get(key, 0) + 1
    reached = None
    if t_scale is not None and isinstance(t_steps, (int, float)):
        reached = any(spec.scale == t_scale and spec.steps >= t_steps for spec in specs)
    last = st.last or {}
    current = _current(st.saved, st.results, st.pending) and status != "running"
    best_rec = st.best_rec
    if best_rec is not None:
        best_rec = {k: best_rec[k] for k in ("n_finished", "regret", "true_value")}
    return {
        "policy": st.policy_name, "backend": "study" if is_study else saved.get("backend"),
        "objective": st.objective.name, "directory": str(directory), "budget": st.budget, "budget_used": st.spent,
        "n_runs": len(st.results), "n_ok": sum(r.ok for r in st.results), "n_failed": sum(not r.ok for r in st.results),
        "n_pending": len(st.pending), "recommendation": st.rec,
        **({"schedule": schedule_of(st.rec, st.phases)} if st.phases and st.rec else {}),
        "true_value": last.get("true_value"),
        "regret": last.get("regret"), "extrapolated": last.get("extrapolated"),
        "optimum_value": (st.optimum or {}).get("value") if isinstance(st.optimum, dict) else None,
        "uniform_regret": saved.get("uniform_regret"), "target": st.target, "fidelities": fids,
        "reached_target": reached, "stop_reason": saved.get("stop_reason") if current else None,
        "predicted": st.predicted, "best_recommendation": best_rec,
        "best_observed": st.best_observed if is_study else (saved.get("best_observed") if current else None),
        **({"gain_over_static": saved.get("gain_over_static")} if "gain_over_static" in saved and current else {}),
    }


def _run_rows(st: _State, ages: dict[str, float], orphaned: dict[str, bool]) -> list[dict]:
    """One row per finished and pending run (pending ones with their age and orphan flag), by run_id."""
    domains = st.domains
    rows = []
    for r in st.results:
        y = st.objective.on_curve(r.curve)
        rows.append({"run_id": r.spec.run_id, "status": r.status, "scale": r.spec.scale, "steps": int(r.spec.steps),
                     "objective": float(y[-1]) if len(y) and np.isfinite(y[-1]) else None,
                     "top": _top(domains, r.spec.mixture.weights)})
    for s in st.pending:
        rows.append({"run_id": s.run_id, "status": "pending", "scale": s.scale, "steps": int(s.steps),
                     "objective": None, "top": _top(domains, s.mixture.weights),
                     "age_s": round(ages[s.run_id], 1), "orphaned": orphaned[s.run_id]})
    rows.sort(key=lambda x: x["run_id"])
    return rows


def _status(is_study: bool, lock_held: bool | None, n_pending: int, n_orphaned: int, done: bool) -> str:
    """running / stalled (study) or interrupted (campaign) when every pending run is orphaned / budget spent / open."""
    if lock_held:
        return "running"
    if n_pending and n_orphaned == n_pending:
        return "stalled" if is_study else "interrupted"
    if n_pending:
        return "running"
    return "budget spent" if done else "open"


def campaign_lock_held(directory: Path) -> bool | None:
    """Whether a process holds the campaign's lock (:func:`bomix.lock.holder`) now; None: unknown."""
    from bomix.lock import holder

    try:
        return holder(directory) is not None
    except OSError:
        return None


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _top(domains, w, k: int = 3) -> str:
    order = np.argsort(-np.asarray(w))[:k]
    return " ".join(f"{domains[i]}={w[i]:.2f}" for i in order)


def format_report(rep: dict) -> str:
    """The report as text: its status line, the summary a person reads (:func:`bomix.summary_text.format_summary`:
    top weights, regret next to uniform weights' and the optimum or the prediction +- sd, budget, runs per
    fidelity, stop reason, what is extrapolated) and a small table of the latest runs. ``--json`` has it all."""
    from bomix.summary_text import format_summary

    lines = [f"{rep['kind']} {rep['directory']}: {rep['status']} (policy {rep['policy']}, objective {rep['objective']})"]
    if rep.get("n_pending"):
        oldest = _age(rep["oldest_pending_age_s"])
        if rep["kind"] == "campaign" and rep.get("lock_held") is False:
            lines.append(f"{rep['n_pending']} pending run(s) (oldest dispatched {oldest} ago) are orphaned: no process "
                         "holds the campaign's lock; re-run the campaign's command to resume them")
        elif rep["kind"] == "study" and rep.get("n_orphaned"):
            lines.append(f"{rep['n_orphaned']} of {rep['n_pending']} pending run(s) were dispatched more than "
                         f"{_age(rep['orphan_after_s'])} ago (oldest {oldest}): their workers may have died; "
                         "train them again (Study.pending() lists them)")
        else:
            lines.append(f"oldest pending run dispatched {oldest} ago")
    lines.append(format_summary(rep["summary"], header=False))
    if rep["runs"]:
        lines.append("")
        lines.append(f"{'run':<8} {'status':<9} {'scale':<8} {'steps':>7} {'objective':>10}  top weights")
        for r in rep["runs"]:
            obj = "" if r["objective"] is None else f"{r['objective']:.4f}"
            age = "" if "age_s" not in r else (f"  ({_age(r['age_s'])} old" + (", orphaned?)" if r["orphaned"] else ")"))
            lines.append(f"{r['run_id']:<8} {r['status']:<9} {r['scale']:<8} {r['steps']:>7} {obj:>10}  {r['top']}{age}")
    return "\n".join(lines)
