"""The answer of ``bomix suggest`` for a person: one block, read top to bottom (the JSON for scripts is
:meth:`bomix.suggest.suggest.Suggestion.to_dict`)."""

from __future__ import annotations

from bomix.suggest.suggest import Suggestion
from bomix.summary_text import weight_lines

#: the next runs' mixtures show this many of their largest weights
TOP_WEIGHTS = 3
#: ... among those of at least this weight
SHOWN_WEIGHT = 5e-3
#: the header lists at most this many fidelities of the runs read
MAX_FIDELITIES = 4


def format_suggestion(s: Suggestion) -> str:
    """The recommended mixture (largest weights first), its predicted objective +- sd, whether it lies in the
    runs' trust region, the next runs worth buying, and the notes."""
    fids = sorted(s.fidelities.items(), key=lambda kv: -kv[1])
    at = ", ".join(f"{n} at {f}" for f, n in fids[:MAX_FIDELITIES]) + (", ..." if len(fids) > MAX_FIDELITIES else "")
    lines = [f"bomix suggest: {s.n_runs} runs of {s.source} ({s.format} format; {at}), method {s.method}, "
             f"seed {s.seed}",
             f"recommended mixture (objective {s.objective} at {s.target}):",
             *weight_lines(s.mixture.to_dict())]
    if s.predicted is not None:
        lines.append(f"predicted {s.objective} at {s.target}: {s.predicted['mean']:.5g} +- {s.predicted['sd']:.2g} "
                     "(the method's model)")
    else:
        lines.append(f"predicted {s.objective}: none ({s.method} has no model of the objective's uncertainty)")
    lines.append(_trust_line(s.trust))
    if s.asked:
        lines.append(_next_header(s))
        for i, r in enumerate(s.next_runs, 1):
            top = [(d, w) for d, w in sorted(r["mixture"].items(), key=lambda kv: -kv[1]) if w >= SHOWN_WEIGHT]
            mix = ", ".join(f"{d} {w:.2f}" for d, w in top[:TOP_WEIGHTS])
            more = len(top) - TOP_WEIGHTS
            lines.append(f"  {i}. {r['scale']}@{r['steps']}  cost {r['cost']:.3g}  {mix}"
                         + (f", + {more} more" if more > 0 else ""))
    if s.fallback:
        lines.append("note: the recommendation is a numerical fallback, not the method's own answer (why: policy_info "
                     "in --json)")
    lines += [f"note: {n}" for n in s.notes]
    return "\n".join(lines)


def _next_header(s: Suggestion) -> str:
    if not s.next_runs:
        return (f"next runs: none ({s.method} has nothing more worth running within {s.budget_left:g} target-run "
                "equivalents)")
    n = len(s.next_runs)
    total = sum(r["cost"] for r in s.next_runs)
    return (f"next {n} run{'s' * (n > 1)} worth buying (cost {total:.3g} of {s.budget_left:g} target-run "
            "equivalents left):")


def _trust_line(t: dict | None) -> str:
    if t is None:
        return "trust region: unknown (too few logged mixtures)"
    at = f"trust region at {t['fidelity']}" + ("" if t["at_target"] else " (no run at the target's scale)")
    if t["inside"]:
        return (f"{at}: inside (total-variation distance {t['distance']:.3f} to the nearest logged mixture, "
                f"radius {t['radius']:.3f})")
    return (f"{at}: OUTSIDE (total-variation distance {t['distance']:.3f} to the nearest logged mixture > radius "
            f"{t['radius']:.3f}): the prediction is an extrapolation")
