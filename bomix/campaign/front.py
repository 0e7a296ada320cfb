"""What a campaign reports about a trade-off (``problem.objectives``): its Pareto set, the set's true values and
hypervolume regret on a simulator, and a plot of the front (``pareto.png`` in the campaign directory).

Which set a policy is judged by: a policy with a model of the objectives (``mobo``) reports its predicted Pareto
set (:meth:`bomix.policies.base.Policy.pareto`), and that set is scored. Any other policy claims no set of its own:
its front is the non-dominated runs it observed at the target fidelity, and it is scored on those runs' mixtures
together with every mixture it recommended (``random`` is then judged by its evaluated points, a scalarised ``mfbo``
by its target runs and its recommendations). Scores use the simulator's truth (:mod:`bomix.pareto`); only this
evaluator reads it, never a policy.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from bomix.history import History
from bomix.pareto import front_hypervolume, hv_regret, non_dominated, true_front, true_objectives
from bomix.policies.base import Policy, Problem

log = logging.getLogger("bomix.campaign")

#: The plot of the front, in the campaign directory.
PLOT_FILE = "pareto.png"
#: True fronts computed in this process: key -> (front Y, its hypervolume) (see :func:`_true_front`).
_FRONTS: dict[str, tuple[np.ndarray, float]] = {}


def observed_front(history: History, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """``(W (n, K), Y (n, M))``: the non-dominated mixtures run at the target fidelity and their observed objective
    values (a mixture run several times: the mean of its runs)."""
    t = problem.space.target
    cols, W = [], None
    for obj in problem.objectives:
        obs = History(history.space, obj, history.results, [], history.budget, history.spent).at_fidelity(t)
        if W is None:
            W = np.unique(obs.w, axis=0) if len(obs) else np.zeros((0, problem.space.k))
        idx = [np.flatnonzero(np.all(np.isclose(obs.w, w, rtol=0, atol=1e-12), axis=1)) for w in W]
        cols.append(np.array([obs.y[i].mean() if len(i) else np.nan for i in idx]))
    Y = np.column_stack(cols) if len(W) else np.zeros((0, len(problem.objectives)))
    ok = np.isfinite(Y).all(1)
    W, Y = W[ok], Y[ok]
    keep = non_dominated(Y)
    return W[keep], Y[keep]


def _true_front(backend, problem: Problem, fidelity) -> tuple[np.ndarray, float]:
    """``(front Y, its hypervolume)``, computed once per process for a simulator, objectives, space and fidelity
    (a benchmark summarises many campaigns of one problem; the hypervolume of a 3-objective front takes seconds)."""
    key = json.dumps([backend.describe(), [o.key for o in problem.objectives], str(fidelity),
                      np.asarray(problem.space.lower).tolist(), np.asarray(problem.space.upper).tolist()],
                     sort_keys=True, default=str)
    if key not in _FRONTS:
        _, Y = true_front(backend, problem.objectives, problem.space, fidelity)
        _FRONTS[key] = (Y, front_hypervolume(Y))
    return _FRONTS[key]


def pareto_fields(backend, policy: Policy, problem: Problem, history: History, recommended: list,
                  directory: Path | None) -> dict:
    """summary.json's ``pareto`` (see the module docstring) and, with a ``directory``, the plot ``pareto.png``.

    Args:
        recommended: the mixtures (weight lists) the campaign recommended, in order (the last is the latest).

    Returns:
        ``{"objectives", "preference", "source" ("model" | "observed"), "set" (each member's ``mixture`` and
        ``predicted`` mean +- sd or ``observed`` values, plus ``true`` values on a simulator), "recommendation"
        (its index in ``set``, None when it is not a member), "hv_true", "hv", "hv_regret", "hv_regret_frac",
        "n_scored", "plot"}`` (hypervolumes None without truth).
    """
    names = [o.name for o in problem.objectives]
    domains = problem.space.domains
    claimed = policy.pareto(history)
    if claimed is not None:
        source = "model"
        members = [dict(m) for m in claimed]
        W = np.array([[m["mixture"][d] for d in domains] for m in members]).reshape(-1, len(domains))
        scored = W
    else:
        source = "observed"
        W, Y = observed_front(history, problem)
        members = [{"mixture": dict(zip(domains, map(float, w))), "observed": dict(zip(names, map(float, y)))}
                   for w, y in zip(W, Y)]
        R = np.array(recommended, dtype=float).reshape(-1, len(domains))
        scored = np.unique(np.vstack([W, R]), axis=0) if len(R) or len(W) else W
    rec = None
    if recommended:
        last = np.asarray(recommended[-1], dtype=float)
        hit = [i for i, w in enumerate(W) if np.allclose(w, last, rtol=0, atol=1e-9)]
        rec = hit[0] if hit else None
    out = {"objectives": names, "preference": dict(zip(names, problem.preference)), "source": source,
           "set": members, "recommendation": rec, "hv_true": None, "hv": None, "hv_regret": None,
           "hv_regret_frac": None, "n_scored": int(len(scored)), "plot": None}
    front_Y = None
    if backend is not None and backend.has_truth:
        t = problem.space.target
        front_Y, hv_true = _true_front(backend, problem, t)
        true_set = true_objectives(backend, problem.objectives, W, t) if len(W) else np.zeros((0, len(names)))
        for m, y in zip(members, true_set):
            m["true"] = dict(zip(names, map(float, y)))
        true_scored = true_objectives(backend, problem.objectives, scored, t) if len(scored) else true_set
        out.update(hv_regret(front_Y, true_scored, hv_true))
    if directory is not None:
        try:
            out["plot"] = str(plot_front(Path(directory) / PLOT_FILE, names, out, front_Y))
        except (OSError, ValueError, ImportError) as exc:  # a plot is a nicety: the summary is written regardless
            log.warning("could not write the Pareto plot: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)
    return out


def plot_front(path: Path, names: list[str], fields: dict, front_Y: np.ndarray | None) -> Path:
    """The front in objective space (one panel per pair ``(first objective, other)``): the true front (grey), the
    set's predicted means +- sd or observed values (blue), their true values (hollow), the recommendation (star)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    members, rec = fields["set"], fields["recommendation"]
    key = "predicted" if fields["source"] == "model" else "observed"
    n = len(names) - 1
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 4), squeeze=False)
    for j, ax in enumerate(axes[0], start=1):
        if front_Y is not None and len(front_Y):
            order = np.argsort(front_Y[:, 0])
            ax.scatter(front_Y[order, 0], front_Y[order, j], s=4, c="0.7", label="true front (dense sampling)")
        if members:
            if key == "predicted":
                x = [m[key][names[0]]["mean"] for m in members]
                y = [m[key][names[j]]["mean"] for m in members]
                ax.errorbar(x, y, xerr=[m[key][names[0]]["sd"] for m in members],
                            yerr=[m[key][names[j]]["sd"] for m in members], fmt="o", c="C0", ms=4, lw=0.8,
                            label="Pareto set, predicted +- sd")
            else:
                x = [m[key][names[0]] for m in members]
                y = [m[key][names[j]] for m in members]
                ax.scatter(x, y, c="C0", s=16, label="Pareto set, observed")
            if "true" in members[0]:
                ax.scatter([m["true"][names[0]] for m in members], [m["true"][names[j]] for m in members],
                           facecolors="none", edgecolors="C1", s=30, label="their true values")
            if rec is not None:
                ax.scatter([x[rec]], [y[rec]], marker="*", s=160, c="C3", zorder=5, label="recommendation")
        ax.set_xlabel(f"{names[0]} (lower is better)")
        ax.set_ylabel(f"{names[j]} (lower is better)")
    hv = fields.get("hv_regret")
    fig.suptitle(f"Pareto set ({fields['source']})" + ("" if hv is None else f", hypervolume regret {hv:.3g}"))
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
