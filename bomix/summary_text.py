"""The human view of a campaign's or a study's summary: what ``bomix run`` prints on stderr when it ends, and the
heart of ``bomix show``'s text.

One block, read top to bottom: the recommended mixture (largest weights first, near-zero ones folded), how good it
is (on a simulator: the regret next to uniform weights' regret and the optimum; with a model: the predicted target
value +- sd), what it cost (budget, runs per fidelity) and why the campaign stopped, then at most two notes, each
naming *what* is extrapolated:

- ``extrapolated`` (summary.json, simulators): the recommendation lies outside the simulator's trust region, so its
  *true value* (and regret) is the simulator's extrapolation;
- ``reached_target`` false: no run reached the target fidelity, so the *choice* (and the policy's prediction) is
  extrapolated from smaller runs.

It reads only a summary dict (the keys of ``summary.json``, :func:`bomix.campaign.report.CampaignReport.summary`)
and tolerates any of them missing or of the wrong type (``bomix show`` reads summary files it did not write).
"""

from __future__ import annotations

import math
from typing import Any

#: weights below this are "at 0" (folded into one line)
NEAR_ZERO = 1e-3
#: at most this many weights are listed one per line; the rest are folded into one line
MAX_WEIGHTS = 8

STOP_REASONS = {
    "budget": "the budget is spent",
    "policy": "the policy has nothing more to run",
    "max_runs": "max_runs reached",
    "wall_time": "max_wall_time reached",
    "regret": "the regret reached stop_regret",
}


def _num(x: Any) -> float | None:
    """``x`` as a finite float, else None (values read back from a file may be anything)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _g(x: float, digits: int = 5) -> str:
    return f"{x:.{digits}g}"


def _r(x: float) -> str:
    """A regret: two significant digits (0.0098, 0.27), 0 as 0."""
    return "0" if x == 0 else f"{x:.2g}"


def fidelity_name(target: Any) -> str | None:
    """``"1B@23842"`` from ``{"scale": "1B", "steps": 23842}`` (None if not that shape)."""
    if isinstance(target, dict) and "scale" in target and "steps" in target:
        return f"{target['scale']}@{target['steps']}"
    return None


def weight_lines(mixture: Any, indent: str = "  ") -> list[str]:
    """The mixture one domain a line, largest first; near-zero weights (and those past :data:`MAX_WEIGHTS`)
    folded into ``+ N domains at 0`` / ``+ N more domains, X in total``."""
    if not isinstance(mixture, dict) or not mixture:
        return []
    items = [(str(d), w) for d, w in mixture.items() if _num(w) is not None]
    items.sort(key=lambda dw: -dw[1])
    shown = [(d, w) for d, w in items if w >= NEAR_ZERO][:MAX_WEIGHTS]
    rest = [(d, w) for d, w in items if w >= NEAR_ZERO][MAX_WEIGHTS:]
    zeros = [w for _, w in items if w < NEAR_ZERO]
    width = max((len(d) for d, _ in shown), default=0)
    lines = [f"{indent}{d:<{width}}  {w:.3f}" for d, w in shown]
    if len(rest) == 1:
        lines.append(f"{indent}+ 1 more domain at {rest[0][1]:.3f}")
    elif rest:
        lines.append(f"{indent}+ {len(rest)} more domains at {rest[-1][1]:.3f}-{rest[0][1]:.3f}, "
                     f"{sum(w for _, w in rest):.3f} in total")
    if zeros:
        at = "0" if all(w == 0 for w in zeros) else f"~0 (< {NEAR_ZERO:g}{' each' * (len(zeros) > 1)})"
        lines.append(f"{indent}+ {len(zeros)} domain{'s' * (len(zeros) > 1)} at {at}")
    return lines


def quality_lines(s: dict) -> list[str]:
    """How good the recommendation is: regret vs uniform and the optimum (simulators), predicted +- sd (models),
    the best recommendation so far when the latest is clearly worse, the best run observed at the target."""
    lines = []
    obj = str(s.get("objective") or "objective")
    tv, regret, opt = _num(s.get("true_value")), _num(s.get("regret")), _num(s.get("optimum_value"))
    uniform = _num(s.get("uniform_regret"))
    if regret is not None and tv is not None:
        if "gain_over_static" in s:  # an online recipe at the target: regret against the best static mixture
            line = (f"regret {_r(regret)} (true {obj} {_g(tv)} against the best static mixture's "
                    f"{_g(opt) if opt is not None else '?'}; negative: the recipe beats every static mixture)")
        else:
            line = f"regret {_r(regret)} (true {obj} {_g(tv)}" + (
                f" against the simulator's optimum {_g(opt)})" if opt is not None else ")")
        if uniform is not None:
            line += f"; uniform weights have regret {_r(uniform)}"
        lines.append(line)
        best = s.get("best_recommendation")
        best_regret = _num(best.get("regret")) if isinstance(best, dict) else None
        if best_regret is not None and regret > best_regret + 0.01:
            lines.append(f"  (an earlier recommendation, after {best.get('n_finished', '?')} runs, had regret "
                         f"{_r(best_regret)}: later results moved the policy's choice)")
    elif tv is not None:
        lines.append(f"true {obj} (simulator): {_g(tv)}")
    pred = s.get("predicted")
    mean = _num(pred.get("mean")) if isinstance(pred, dict) else None
    sd = _num(pred.get("sd")) if isinstance(pred, dict) else None
    if mean is not None and sd is not None:
        at = fidelity_name(s.get("target"))
        lines.append(f"predicted {obj}{' at ' + at if at else ''}: {_g(mean)} +- {_g(sd, 2)} (the policy's model)")
    hedge = shrink_line(s)
    if hedge:
        lines.append(hedge)
    obs = s.get("best_observed")
    if regret is None and isinstance(obs, dict) and _num(obs.get("value")) is not None:
        lines.append(f"best run at the target fidelity: {obj} {_g(obs['value'])} ({obs.get('run_id', '?')})")
    return lines


def shrink_line(s: dict) -> str | None:
    """How far a GP policy's ``rec_shrink`` moved the recommendation from its model's argmax towards the prior
    (``policy_info["shrink"]``); None without it."""
    info = s.get("policy_info")
    sh = info.get("shrink") if isinstance(info, dict) else None
    lam, z = (_num(sh.get("lambda")), sh.get("z")) if isinstance(sh, dict) else (None, None)
    if lam is None or (z != "pbest" and _num(z) is None):
        return None
    if z == "pbest":
        return (f"hedge: {_g(lam, 2)} of the way from the prior mixture to the model's best, the expected position of "
                f"the best mixture between them under the model")
    if lam >= 1.0:
        return (f"hedge: none, the model's best mixture (the evidence puts it more than {_g(z, 2)} sd ahead of every "
                f"mixture nearer the prior)")
    adv, sd = _num(sh.get("advantage")), _num(sh.get("advantage_sd"))
    why = f"; the model's best is predicted {_g(adv, 2)} +- {_g(sd, 2)} better" if adv is not None and sd else ""
    return (f"hedge: {_g(lam, 2)} of the way from the prior mixture to the model's best, the nearest point to the prior "
            f"the evidence does not put more than {_g(z, 2)} sd behind it{why}")


def constraint_lines(s: dict) -> list[str]:
    """Outcome constraints (``summary["constraints"]``): the bounds, whether the recommendation meets them in the
    simulator's truth (with its true values) and the policy's probability that it does; a note when no mixture was
    predicted feasible enough (the most-likely-feasible one was recommended)."""
    c = s.get("constraints")
    if not isinstance(c, dict) or not isinstance(c.get("bounds"), list):
        return []
    line = f"constraints {', '.join(map(str, c['bounds']))}"
    values = c.get("values")
    if c.get("feasible") in (True, False):
        shown = ", ".join(f"{m} {_g(v)}" for m, v in values.items() if _num(v) is not None) \
            if isinstance(values, dict) else ""
        line += f": {'met' if c['feasible'] else 'VIOLATED'} in the simulator" + (f" ({shown})" if shown else "")
    p = _num(c.get("predicted_feasibility"))
    if p is not None:
        line += f"; predicted feasible with probability {p:.2g}"
    lines = [line]
    if c.get("predicted_feasible") is False:
        lines.append("note: no mixture is predicted to meet the constraints with the policy's constraint_prob: the "
                     "most likely feasible one is recommended")
    return lines


def pareto_lines(s: dict) -> list[str]:
    """A trade-off (``summary["pareto"]``): the Pareto set's size and where it comes from, the hypervolume regret on a
    simulator, and the recommended member's values (predicted +- sd or observed) per objective."""
    p = s.get("pareto")
    if not isinstance(p, dict) or not isinstance(p.get("set"), list) or not isinstance(p.get("objectives"), list):
        return []
    src = "predicted by the model" if p.get("source") == "model" else "observed at the target"
    line = f"trade-off {' vs '.join(map(str, p['objectives']))}: Pareto set of {len(p['set'])} mixtures ({src})"
    hv, frac = _num(p.get("hv_regret")), _num(p.get("hv_regret_frac"))
    if hv is not None:
        line += f"; hypervolume regret {_r(hv)}" + (f" ({100 * frac:.0f}% of the true front's)" if frac is not None else "")
    lines = [line]
    i = p.get("recommendation")
    if isinstance(i, int) and 0 <= i < len(p["set"]) and isinstance(p["set"][i], dict):
        m = p["set"][i]
        vals = m.get("predicted") if isinstance(m.get("predicted"), dict) else m.get("observed")
        parts = []
        for name, v in (vals.items() if isinstance(vals, dict) else []):
            if isinstance(v, dict) and _num(v.get("mean")) is not None and _num(v.get("sd")) is not None:
                parts.append(f"{name} {_g(v['mean'])} +- {_g(v['sd'], 2)}")
            elif _num(v) is not None:
                parts.append(f"{name} {_g(v)}")
        pref = p.get("preference") if isinstance(p.get("preference"), dict) else {}
        shown = ", ".join(f"{k} {_g(w, 3)}" for k, w in pref.items() if _num(w) is not None)
        lines.append(f"the recommendation is the set's pick for the preference ({shown}): {', '.join(parts)}"
                     " (objectives: lower is better)")
    if p.get("plot"):
        lines.append(f"front plotted in {p['plot']}")
    return lines


def cost_line(s: dict) -> str:
    """``budget: 1.05 of 2 target-run equivalents used; 160 runs (140 at 1M@1000, ...)``."""
    used, budget = _num(s.get("budget_used")), _num(s.get("budget"))
    line = f"budget: {_g(used, 3) if used is not None else '?'} of {_g(budget, 3) if budget is not None else '?'} " \
           "target-run equivalents used"
    n = s.get("n_runs")
    if isinstance(n, int):
        pending = s.get("n_pending") if isinstance(s.get("n_pending"), int) else 0
        line += f"; {n} run{'s' * (n != 1)}" + (f" finished, {pending} pending" if pending else "")
        fids = s.get("fidelities")  # every dispatched run (pending ones too), by fidelity
        parts = []
        if isinstance(fids, dict) and len(fids) > 1:
            parts.append(", ".join(f"{c} at {f}" for f, c in sorted(fids.items(), key=lambda fc: -_count(fc[1]))))
        elif isinstance(fids, dict) and fids and n + pending > 1:
            parts.append(f"all at {next(iter(fids))}")
        elif isinstance(fids, dict) and fids:
            parts.append(f"at {next(iter(fids))}")
        failed = s.get("n_failed")
        if isinstance(failed, int) and failed:
            parts.append(f"{failed} failed")
        line += f" ({'; '.join(parts)})" if parts else ""
    return line


def reuse_line(s: dict) -> str | None:
    """``reused 40 runs from runs/old (3 dropped: 3 not ok), as tasks: 40 mapped; not charged`` (None without a warm
    start)."""
    ws = s.get("warm_start")
    if not isinstance(ws, dict):
        return None
    dirs = ws.get("dirs") if isinstance(ws.get("dirs"), list) else []
    dropped = ws.get("dropped") if isinstance(ws.get("dropped"), dict) else {}
    n_drop = int(sum(_count(v) for v in dropped.values()))
    why = "; ".join(f"{_g(_count(v), 6)} {k}" for k, v in dropped.items())
    tasks = ws.get("tasks") if isinstance(ws.get("tasks"), dict) else {}
    how = ", ".join(f"{_g(_count(v), 6)} {k}" for k, v in tasks.items())
    n = ws.get("n_reused", "?")
    return (f"reused {n} run{'' if n == 1 else 's'} from {', '.join(map(str, dirs)) or '?'}"
            f" ({n_drop} dropped{': ' + why if why else ''})" + (f", as tasks: {how}" if how else "")
            + "; not charged")


#: stop reasons that a setting caused, and the setting that lifts them
CAPS = {"max_runs": "max_runs", "wall_time": "max_wall_time"}


def stop_line(s: dict) -> str | None:
    """``stopped: max_runs reached``, and when a cap stopped it with budget left, how much and what to raise (None
    while a campaign has not stopped, or for a study)."""
    reason = s.get("stop_reason")
    if not isinstance(reason, str):
        return None
    line = f"stopped: {STOP_REASONS.get(reason, reason)}"
    budget, used = _num(s.get("budget")), _num(s.get("budget_used"))
    if reason in CAPS and budget is not None and used is not None and budget - used > 0.01 * budget:
        line += (f" with {budget - used:.2g} of the budget of {budget:g} unspent (raise {CAPS[reason]} to spend more of "
                 "it)")
    return line


def _count(x: Any) -> float:
    return float(x) if _num(x) is not None else 0.0


def extrapolation_notes(s: dict) -> list[str]:
    """At most two notes, each saying what is extrapolated and why."""
    notes = []
    if s.get("extrapolated") is True:
        notes.append("note: the recommendation is outside the simulator's trust region: its true value (so the regret) "
                     "is extrapolated")
    n = s.get("n_runs")
    if s.get("reached_target") is False and isinstance(n, int) and n > 0:
        at = fidelity_name(s.get("target")) or "the target fidelity"
        what = "the choice and its prediction are" if isinstance(s.get("predicted"), dict) else "the choice is"
        notes.append(f"note: no run reached the target fidelity {at}: {what} extrapolated from smaller runs")
    return notes


def format_summary(s: dict, *, header: bool = True) -> str:
    """The human block of a summary dict (``summary.json``'s keys; missing ones are left out).

    ``header``: first a line naming the directory, policy and backend (``bomix show`` has its own)."""
    lines = []
    if header:
        kind = "study" if s.get("backend") == "study" else "campaign"
        lines.append(f"{kind} {s.get('directory', '?')}: done (policy {s.get('policy', '?')}, "
                     f"backend {s.get('backend', '?')})")
    rec = s.get("recommendation")
    if isinstance(rec, dict) and rec:
        at = fidelity_name(s.get("target"))
        sched = s.get("schedule")
        if isinstance(sched, list) and sched:
            lines.append(f"recommended schedule (objective {s.get('objective', '?')}{' at ' + at if at else ''}):")
            for ph in sched:
                lines.append(f"  phase {ph.get('phase', '?')} ({_g(ph.get('fraction', float('nan')), 3)} of the steps):")
                lines += weight_lines(ph.get("mixture"), indent="    ")
        else:
            lines.append(f"recommended mixture (objective {s.get('objective', '?')}{' at ' + at if at else ''}):")
            lines += weight_lines(rec)
    else:
        lines.append("no recommendation yet")
    lines += quality_lines(s)
    lines += constraint_lines(s)
    lines += pareto_lines(s)
    lines.append(cost_line(s))
    reuse = reuse_line(s)
    if reuse:
        lines.append(reuse)
    stop = stop_line(s)
    if stop:
        lines.append(stop)
    lines += extrapolation_notes(s)
    if s.get("fallback") is True:
        lines.append("note: the recommendation is a numerical fallback, not the policy's model's answer: re-running "
                     "the campaign recomputes it")
    return "\n".join(lines)
