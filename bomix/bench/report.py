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


def to_markdown(summary: dict) -> str:
    """Per (backend, objective): final regret/cost, cost to reach each eps, and speedups.

    Args:
        summary: the dict returned by :func:`bomix.bench.aggregate.summarize`.

    Returns:
        Markdown text (ends with a newline).
    """
    eps = summary["eps"]
    lines = ["# bomix bench", "",
             f"{summary['n_campaigns']} campaigns. Costs in target-run equivalents; cells are "
             "median [25%, 75%] over seeds.", ""]
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
        lines += [f"## {backend} / {objective} ({seeds} seeds per policy)", "", "### Final recommendation", ""]
        lines += _table(["policy", "seeds", "final regret", "compute used", "extrapolated (final / all recs)"], [
            [r["policy"], str(r["n_seeds"]), _band(r["regret_median"], r["regret_q25"], r["regret_q75"]),
             _band(r["cost_median"], r["cost_q25"], r["cost_q75"]),
             f"{_pct(r.get('extrapolated_final'))} / {_pct(r.get('extrapolated_all'))}"] for r in rows])
        lines.append("")
        have = [r for r in rows if any((backend, objective, r["policy"], e) in ctr for e in eps)]
        if have:
            lines += ["### Cost to reach regret <= eps", "",
                      "(the cost from which a seed's regret stays <= eps until its budget ends; "
                      "reached/seeds in parentheses; seeds that never reach eps count as their budget; "
                      "`>=` marks a median that is only a lower bound because half or more did not reach it)", ""]
            def reach(c: dict) -> str:
                mark = ">=" if c["censored"] else ""
                return f"{mark}{_band(c['median'], c['q25'], c['q75'])} ({c['n_reached']}/{c['n_seeds']})"

            body = _eps_rows(have, eps, lambda r, e: ctr.get((backend, objective, r["policy"], e)), reach)
            lines += _table(["policy"] + [f"eps={fmt(e)}" for e in eps], body)
            lines.append("")
            lines += ["First touch (secondary): median cost of the first recommendation with regret <= eps, "
                      "even if regret later climbed back above it (touched/seeds in parentheses)", ""]
            def first(c: dict) -> str:
                if c.get("first_median") is None:
                    return "-"
                return f"{fmt(c['first_median'])} ({c.get('first_n_reached', '-')}/{c['n_seeds']})"

            body = _eps_rows(have, eps, lambda r, e: ctr.get((backend, objective, r["policy"], e)), first)
            lines += _table(["policy"] + [f"first touch eps={fmt(e)}" for e in eps], body)
            lines.append("")
        pairs = sp.get((backend, objective), [])
        if pairs:
            lines += _speedup_tables(pairs, eps, summary.get("baseline"))
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


def _speedup_tables(pairs: list[dict], eps: list[float], baseline: str | None) -> list[str]:
    lines = ["### Speedups", "",
             "speedup of A over B = median cost(B) / median cost(A) to reach (and stay at) regret <= eps "
             "(`>=`/`<=`: bound from censored medians, `?`: neither reached, `-`: one of them spends "
             "nothing, no ratio)", ""]
    by = {(r["policy"], r["over"], r["eps"]): r for r in pairs}
    policies = sorted({r["policy"] for r in pairs} | {r["over"] for r in pairs})
    if baseline is not None:
        rows = [[p] + [_cell(by.get((p, baseline, e))) for e in eps] for p in policies if p != baseline]
        lines += _table([f"policy (over {baseline})"] + [f"eps={fmt(e)}" for e in eps], rows)
        return lines + [""]
    for e in eps:
        lines += [f"eps = {fmt(e)} (row A over column B)", ""]
        rows = [[a] + [("" if a == b else _cell(by.get((a, b, e)))) for b in policies] for a in policies]
        lines += _table(["A \\ B"] + policies, rows)
        lines.append("")
    return lines
