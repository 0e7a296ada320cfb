"""Markdown tables from a :func:`bomix.bench.aggregate.summarize` dict."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any


def fmt(x: Any, digits: int = 3) -> str:
    """A number in a table cell: ``-`` for missing, ``inf``, or ``digits`` significant digits."""
    if x is None:
        return "-"
    x = float(x)
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def _pct(x: Any) -> str:
    """A fraction as a percentage, ``-`` when unknown."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.0f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _band(med: Any, lo: Any, hi: Any) -> str:
    return f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]"


def problem_thresholds(summary: dict) -> dict[tuple, dict]:
    """(backend, objective) -> ``{"eps", "eps_frac", "scale", "scale_source"}`` of a summary's thresholds.

    Reads ``summary["thresholds"]``; a summary written before relative thresholds existed has only the
    absolute ``eps`` list, which then applies to every problem in its ``final`` and ``cost_to_reach`` rows.
    """
    if summary.get("thresholds") is not None:
        return {(t["backend"], t["objective"]): t for t in summary["thresholds"]}
    eps = [float(e) for e in summary.get("eps") or []]
    problems = {(r["backend"], r["objective"]) for r in summary.get("final", []) + summary.get("cost_to_reach", [])}
    return {p: {"backend": p[0], "objective": p[1], "eps": eps, "eps_frac": None, "scale": None,
                "scale_source": None} for p in sorted(problems)}


def pct(f: float) -> str:
    """A fraction as a percentage with as many digits as it needs: 0.1 -> ``10%``, 0.005 -> ``0.5%``."""
    return f"{100 * float(f):.3g}%"


def eps_label(e: float, frac: float | None) -> str:
    """``0.0273 (10%)`` for a relative threshold, ``0.01`` for an absolute one."""
    return fmt(e) if frac is None else f"{fmt(e)} ({pct(frac)})"


def threshold_sentence(t: dict) -> str:
    """One sentence saying what a problem's thresholds are (absolute, or fractions of which scale)."""
    if t.get("eps_frac") is None:
        return "eps (absolute regret thresholds): " + ", ".join(fmt(e) for e in t["eps"])
    return (f"eps = {', '.join(pct(f) for f in t['eps_frac'])} of {t['scale_source']} ({fmt(t['scale'])}): "
            + ", ".join(fmt(e) for e in t["eps"]))


def to_markdown(summary: dict) -> str:
    """Per (backend, objective): final regret/cost, cost to reach each eps, and speedups.

    Args:
        summary: the dict returned by :func:`bomix.bench.aggregate.summarize`.

    Returns:
        Markdown text (ends with a newline).
    """
    thr = problem_thresholds(summary)
    relative = any(t.get("eps_frac") is not None for t in thr.values())
    lines = ["# bomix bench", "",
             f"{summary['n_campaigns']} campaigns. Costs in target-run equivalents; cells are "
             "median [25%, 75%] over seeds."
             + (" Regret thresholds eps are fractions of each problem's scale: uniform's regret when a uniform "
                "campaign is benched, else the largest regret recommended (`--eps` gives absolute ones)."
                if relative else ""), ""]
    finals: dict[tuple, list[dict]] = defaultdict(list)
    for r in summary["final"]:
        finals[(r["backend"], r["objective"])].append(r)
    ctr: dict[tuple, dict] = {}
    for r in summary["cost_to_reach"]:
        ctr[(r["backend"], r["objective"], r["policy"], r["eps"])] = r
    sp: dict[tuple, list[dict]] = defaultdict(list)
    for r in summary["speedups"]:
        sp[(r["backend"], r["objective"])].append(r)

    for (backend, objective), rows in sorted(finals.items()):
        n_seeds = sorted({r["n_seeds"] for r in rows})
        seeds = str(n_seeds[0]) if len(n_seeds) == 1 else f"{n_seeds[0]}-{n_seeds[-1]}"
        t = thr.get((backend, objective), {"eps": [], "eps_frac": None})
        eps = t["eps"]
        labels = [eps_label(e, f) for e, f in zip(eps, t["eps_frac"] or [None] * len(eps))]
        lines += [f"## {backend} / {objective} ({seeds} seeds per policy)", "", "### Final recommendation", ""]
        constrained = any(isinstance(r.get("feasible_final"), float) and math.isfinite(r["feasible_final"])
                          for r in rows)  # a column only for problems with outcome constraints
        tradeoff = any(isinstance(r.get("hv_regret_median"), float) and math.isfinite(r["hv_regret_median"])
                       for r in rows)  # a column only for problems with a trade-off (problem.objectives)
        lines += _table(["policy", "seeds", "final regret", "compute used", "extrapolated (final / all recs)"]
                        + (["feasible (final)"] if constrained else [])
                        + (["hypervolume regret (final)"] if tradeoff else []), [
            [r["policy"], str(r["n_seeds"]), _band(r["regret_median"], r["regret_q25"], r["regret_q75"]),
             _band(r["cost_median"], r["cost_q25"], r["cost_q75"]),
             f"{_pct(r.get('extrapolated_final'))} / {_pct(r.get('extrapolated_all'))}"]
            + ([_pct(r.get("feasible_final"))] if constrained else [])
            + ([_band(r.get("hv_regret_median"), r.get("hv_regret_q25"), r.get("hv_regret_q75"))] if tradeoff else [])
            for r in rows])
        lines.append("")
        have = [r for r in rows if any((backend, objective, r["policy"], e) in ctr for e in eps)]
        if have:
            lines += ["### Cost to reach regret <= eps", "", threshold_sentence(t), "",
                      "(the cost from which a seed's regret stays <= eps until its budget ends; "
                      "reached/seeds in parentheses; seeds that never reach eps count as their budget; "
                      "`>=` marks a median that is only a lower bound because half or more did not reach it)", ""]
            def reach(c: dict) -> str:
                mark = ">=" if c["censored"] else ""
                return f"{mark}{_band(c['median'], c['q25'], c['q75'])} ({c['n_reached']}/{c['n_seeds']})"

            body = _eps_rows(have, eps, lambda r, e: ctr.get((backend, objective, r["policy"], e)), reach)
            lines += _table(["policy"] + [f"eps={x}" for x in labels], body)
            lines.append("")
            lines += ["First touch (secondary): median cost of the first recommendation with regret <= eps, "
                      "even if regret later climbed back above it (touched/seeds in parentheses)", ""]
            def first(c: dict) -> str:
                if c.get("first_median") is None:
                    return "-"
                return f"{fmt(c['first_median'])} ({c.get('first_n_reached', '-')}/{c['n_seeds']})"

            body = _eps_rows(have, eps, lambda r, e: ctr.get((backend, objective, r["policy"], e)), first)
            lines += _table(["policy"] + [f"first touch eps={x}" for x in labels], body)
            lines.append("")
        pairs = sp.get((backend, objective), [])
        if pairs:
            lines += _speedup_tables(pairs, eps, labels, summary.get("baseline"))
    if summary.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in summary["warnings"]] + [""]
    if summary.get("skipped"):
        lines += ["## Skipped", ""] + [f"- {s['campaign']}: {s['reason']}" for s in summary["skipped"]] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _eps_rows(rows: list[dict], eps, get, cell) -> list[list[str]]:
    """One table row per policy: its name, then ``cell(get(row, e))`` per threshold ("-" where ``get`` gives None)."""
    return [[r["policy"]] + ["-" if (c := get(r, e)) is None else cell(c) for e in eps] for r in rows]


def _cell(r: dict | None) -> str:
    if r is None:
        return "-"
    b = r["bound"]
    if b in ("?", "-"):
        return b
    return ("" if b == "=" else b) + fmt(r["speedup"], 2) + "x"


def _speedup_tables(pairs: list[dict], eps: list[float], labels: list[str], baseline: str | None) -> list[str]:
    lines = ["### Speedups", "",
             "speedup of A over B = median cost(B) / median cost(A) to reach (and stay at) regret <= eps "
             "(`>=`/`<=`: bound from censored medians, `?`: neither reached, `-`: one of them spends "
             "nothing, no ratio)", ""]
    by = {(r["policy"], r["over"], r["eps"]): r for r in pairs}
    policies = sorted({r["policy"] for r in pairs} | {r["over"] for r in pairs})
    if baseline is not None:
        rows = [[p] + [_cell(by.get((p, baseline, e))) for e in eps] for p in policies if p != baseline]
        lines += _table([f"policy (over {baseline})"] + [f"eps={x}" for x in labels], rows)
        return lines + [""]
    for e, label in zip(eps, labels):
        lines += [f"eps = {label} (row A over column B)", ""]
        cells = {(a, b): _cell(by.get((a, b, e))) for a in policies for b in policies if a != b}
        if "?" in cells.values() and all(c in ("?", "-") for c in cells.values()):  # only "?": say why instead
            lines += ["no speedup: no policy that runs anything has a median cost to reach this eps "
                      "(half or more of each one's seeds never reached it)", ""]
            continue
        rows = [[a] + [cells.get((a, b), "") for b in policies] for a in policies]
        lines += _table(["A \\ B"] + policies, rows)
        lines.append("")
    return lines
