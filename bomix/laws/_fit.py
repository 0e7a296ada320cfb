"""Shared fitting helpers for the mixing laws: Huber loss, multi-start L-BFGS, simplex search, tables.

Every law fits its parameters the way the papers do: a summed Huber loss on residuals, minimised by
L-BFGS (scipy's L-BFGS-B with exact gradients from torch autograd) from many starts. Starts are
screened in one vectorised pass and the best few are refined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize

try:  # scipy's optimisers call BLAS: on these tiny problems its threads only add overhead
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    from contextlib import nullcontext

    def threadpool_limits(_n):  # type: ignore[no-redef]
        return nullcontext()

from bomix.errors import BomixError
from bomix.mixture import Mixture
from bomix.runtable import domains_of, mcols, metrics_of, wcols

DTYPE = torch.float64


def huber(r: torch.Tensor, delta: float) -> torch.Tensor:
    """Elementwise Huber loss of residuals ``r`` (any shape) with threshold ``delta``."""
    a = r.abs()
    return torch.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def multistart_lbfgs(
    loss: Callable[[torch.Tensor], torch.Tensor],
    starts: np.ndarray,
    bounds: Sequence[tuple[float | None, float | None]] | None = None,
    n_refine: int = 16,
    n_polish: int = 2,
    maxiter: int = 400,
) -> tuple[np.ndarray, float]:
    """Minimise ``loss`` from many starts; return the best parameters and loss.

    Three stages: all starts are screened in one batched call; the best ``n_refine`` are refined
    *jointly* by L-BFGS-B on the sum of their losses (separable, so this is ``n_refine`` independent
    fits in one optimiser, as BoTorch does for acquisition restarts); the best ``n_polish`` are then
    polished one by one. Runs single-threaded (these problems are tiny; threads only add overhead).

    Args:
        loss: maps a ``(b, p)`` double tensor of parameter vectors to ``(b,)`` losses.
        starts: ``(m, p)`` initial parameter vectors.
        bounds: per-parameter (low, high) for L-BFGS-B (None = unbounded).
        n_refine: starts refined jointly after screening.
        n_polish: best refined points polished individually.
        maxiter: L-BFGS iterations per stage.

    Returns:
        ``(p,)`` best parameters and its loss.
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    p = starts.shape[1]
    if bounds is not None:
        lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
        hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
        starts = np.clip(starts, lo, hi)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    limits = threadpool_limits(1)
    limits.__enter__()
    try:
        with torch.no_grad():
            screen = loss(torch.as_tensor(starts, dtype=DTYPE)).numpy()
        screen = np.where(np.isfinite(screen), screen, np.inf)
        order = np.argsort(screen, kind="stable")[: max(1, n_refine)]
        x0 = starts[order]
        b = x0.shape[0]

        def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
            t = torch.as_tensor(x, dtype=DTYPE).view(-1, p).requires_grad_(True)
            v = loss(t)
            v = torch.where(torch.isfinite(v), v, torch.full_like(v, 1e30))
            (g,) = torch.autograd.grad(v.sum(), t)
            g = g.reshape(-1).numpy()
            return float(v.sum().detach()), np.where(np.isfinite(g), g, 0.0)

        opts = {"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-10}
        res = minimize(fg, x0.reshape(-1), jac=True, method="L-BFGS-B",
                       bounds=None if bounds is None else list(bounds) * b, options=opts)
        x1 = np.asarray(res.x, dtype=float).reshape(b, p)
        with torch.no_grad():
            v1 = loss(torch.as_tensor(x1, dtype=DTYPE)).numpy()
        v1 = np.where(np.isfinite(v1), v1, np.inf)
        best_x, best_v = x1[int(np.argmin(v1))], float(np.min(v1))
        for i in np.argsort(v1, kind="stable")[: max(1, n_polish)]:
            r = minimize(fg, x1[i], jac=True, method="L-BFGS-B", bounds=bounds,
                         options=dict(opts, maxiter=3 * maxiter))
            if np.isfinite(r.fun) and r.fun < best_v:
                best_x, best_v = np.asarray(r.x, dtype=float), float(r.fun)
    finally:
        limits.__exit__(None, None, None)
        torch.set_num_threads(threads)
    return best_x, best_v


def minimize_on_simplex(
    f: Callable[[np.ndarray], float],
    lower: np.ndarray,
    upper: np.ndarray,
    starts: np.ndarray,
    grad: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Minimise ``f`` over ``{lower <= w <= upper, sum w = 1}`` by SLSQP (tight tolerance) from ``starts``.

    Args:
        f: ``(K,) -> float``.
        lower / upper: ``(K,)`` bounds.
        starts: ``(m, K)`` feasible starting mixtures.
        grad: optional ``(K,) -> (K,)`` gradient.

    Returns:
        ``(K,)`` the best mixture found.
    """
    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}]
    best, best_v = None, np.inf
    for w0 in np.atleast_2d(starts):
        with threadpool_limits(1):
            res = minimize(f, w0, jac=grad, method="SLSQP", bounds=list(zip(lower, upper)), constraints=cons,
                           options={"ftol": 1e-15, "maxiter": 2000})
        w = np.clip(res.x, lower, upper)
        v = f(w / w.sum())
        if np.isfinite(v) and v < best_v and abs(w.sum() - 1) < 1e-6:
            best, best_v = w / w.sum(), v
    if best is None:
        raise BomixError("the simplex optimiser found no feasible mixture: check the weight bounds")
    return best


def simplex_starts(k: int, lower: np.ndarray, upper: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``(n, K)`` starts: the projected centre, the projected vertices, then Dirichlet(1) draws."""
    from bomix.space import _project

    rng = np.random.default_rng(seed)
    pts = [np.full(k, 1.0 / k)] + [np.eye(k)[i] * 0.7 + 0.3 / k for i in range(k)]
    pts += list(rng.dirichlet(np.ones(k), size=max(0, n - len(pts))))
    return _project(np.array(pts[: max(n, 1)]), np.asarray(lower, float), np.asarray(upper, float))


# ----- the logged-run long format --------------------------------------------------------------
def check_table(table: pd.DataFrame, need: Sequence[str] = ("run_id", "step")) -> None:
    if not isinstance(table, pd.DataFrame):
        raise BomixError("a law fits a pandas DataFrame in the logged-run long format (History.table())")
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise BomixError(f"the table lacks column(s) {missing}: give the logged-run long format "
                         "(run_id, scale, params, step, w:<domain>..., m:<metric>...)")
    if len(table) == 0:
        raise BomixError("the table is empty: a law needs at least one logged run")


def table_domains(table: pd.DataFrame) -> list[str]:
    """Domain names from the ``w:<domain>`` columns, in column order."""
    doms = domains_of(table.columns)
    if len(doms) < 2:
        raise BomixError("the table needs >= 2 'w:<domain>' weight columns")
    return doms


def table_metrics(table: pd.DataFrame) -> list[str]:
    """Metric names from the ``m:<metric>`` columns."""
    return metrics_of(table.columns)


def final_rows(table: pd.DataFrame, step: int | None = None, scale: str | None = None) -> pd.DataFrame:
    """One row per run: its last logged step (or exactly ``step``), optionally only at ``scale``."""
    check_table(table)
    t = table
    if scale is not None:
        if "scale" not in t.columns:
            raise BomixError("the table has no 'scale' column to select runs by scale")
        t = t[t["scale"] == scale]
    if step is not None:
        t = t[t["step"] == step]
    if len(t) == 0:
        raise BomixError(f"no logged rows at scale={scale!r}, step={step!r}: fit on fidelities that were run")
    idx = t.groupby("run_id", sort=False)["step"].idxmax()
    return t.loc[idx.values].reset_index(drop=True)


def weights_of(table: pd.DataFrame, domains: Sequence[str]) -> np.ndarray:
    """``(n, K)`` mixtures from the ``w:`` columns (renormalised: logged weights may be rounded)."""
    cols = wcols(domains)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise BomixError(f"the table lacks weight column(s) {missing}")
    w = table[cols].to_numpy(dtype=float)
    s = w.sum(1, keepdims=True)
    if np.any(s <= 0):
        raise BomixError("a logged mixture has all-zero weights")
    return w / s


def metric_values(table: pd.DataFrame, metrics: Sequence[str]) -> np.ndarray:
    """``(n, M)`` values of ``m:<metric>`` columns (BomixError if absent)."""
    cols = mcols(metrics)
    missing = [m for m, c in zip(metrics, cols) if c not in table.columns]
    if missing:
        raise BomixError(f"the table lacks metric(s) {missing}; it has {table_metrics(table)}")
    return table[cols].to_numpy(dtype=float)


def domain_metric_map(domains: Sequence[str], metrics: Sequence[str],
                      given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Domain -> its own validation metric: ``given``, else the one metric named ``d`` or ending in
    ``:d``, ``/d`` or ``_d`` (``loss:github``, ``val/github``, ``ce_github``)."""
    if given:
        bad = [d for d in given if d not in domains]
        if bad:
            raise BomixError(f"domain_metrics maps unknown domain(s) {bad}; the domains are {list(domains)}")
        unknown = [m for m in given.values() if m not in metrics]
        if unknown:
            raise BomixError(f"domain_metrics names unknown metric(s) {unknown}; known: {list(metrics)}")
        return {d: given[d] for d in domains if d in given}
    out = {}
    for d in domains:
        hits = [m for m in metrics if m == d or any(m.endswith(sep + d) for sep in ":/_")]
        if len(hits) == 1:
            out[d] = hits[0]
    return out


def as_weights(mixtures, k: int) -> np.ndarray:
    """Mixtures (a Mixture, a list of them, or an array) -> ``(n, K)`` float array."""
    if isinstance(mixtures, Mixture):
        mixtures = [mixtures]
    if isinstance(mixtures, (list, tuple)) and mixtures and isinstance(mixtures[0], Mixture):
        w = np.array([m.weights for m in mixtures])
    else:
        w = np.atleast_2d(np.asarray(mixtures, dtype=float))
    if w.shape[-1] != k:
        raise BomixError(f"mixtures have {w.shape[-1]} weights but the law has {k} domains")
    return w


def vec(x, k: int, name: str) -> np.ndarray:
    """A per-domain parameter as a ``(K,)`` array (BomixError on a wrong length or non-finite value)."""
    a = np.asarray(x, dtype=float).reshape(-1)
    if a.size == 1 and k > 1:
        a = np.full(k, float(a[0]))
    if a.size != k:
        raise BomixError(f"{name} has {a.size} values, expected {k}")
    if not np.all(np.isfinite(a)):
        raise BomixError(f"{name} has non-finite values")
    return a


def bounds_or_default(k: int, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    lo = np.zeros(k) if lower is None else vec(lower, k, "lower")
    up = np.ones(k) if upper is None else vec(upper, k, "upper")
    if np.any(lo > up) or lo.sum() > 1 + 1e-9 or up.sum() < 1 - 1e-9:
        raise BomixError("weight bounds leave no mixture: need lower <= upper and sum(lower) <= 1 <= sum(upper)")
    return lo, up
