"""The logged-run table format: the one module that knows its columns (``simulator/README.md``).

One row per (run, evaluated step); columns:

- ``run_id`` (str), ``scale`` (str), ``params`` (float > 0), ``step`` (int > 0);
- optional ``tokens`` (float, tokens seen up to ``step``);
- ``w:<domain>`` per training domain (the run's weights, >= 0, summing to 1 within ``WEIGHT_TOL``);
- ``m:<metric>`` per metric (float; empty / NaN = not measured). Per-domain laws (``bimix``, ``dml``,
  ``sft_law``) find a domain's own loss by the name ``loss:<domain>`` (``m:loss:<domain>``; see
  :func:`bomix.laws._fit.domain_metric_map`, or give them a domain -> metric mapping).

Runs with a single (final) row are allowed. Everything that writes or reads such a table (export,
``History.table()``, the laws, the replay simulator) names its columns through :func:`wcol` /
:func:`mcol` and friends; :func:`validate` checks a table with one-line errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bomix.errors import BomixError

REQUIRED = ("run_id", "scale", "params", "step")
#: column prefixes of the weights and the metrics
W_PREFIX, M_PREFIX = "w:", "m:"
#: row sums of the weights may be off by this much (logged weights are often rounded); they are renormalised
WEIGHT_TOL = 1e-2
#: weights of one run may differ between its rows by at most this much
SAME_MIXTURE_TOL = 1e-6
#: metric values beyond +-this are logging errors, not measurements (and overflow the models' arithmetic)
MAX_METRIC = 1e15


# ----- column names ------------------------------------------------------------------------------
def wcol(domain: str) -> str:
    """Weight column of a domain: ``w:<domain>``."""
    return W_PREFIX + str(domain)


def mcol(metric: str) -> str:
    """Metric column: ``m:<metric>``."""
    return M_PREFIX + str(metric)


def wcols(domains: Sequence[str]) -> list[str]:
    return [wcol(d) for d in domains]


def mcols(metrics: Sequence[str]) -> list[str]:
    return [mcol(m) for m in metrics]


def domains_of(columns: Iterable) -> list[str]:
    """Domain names of the weight columns, in column order."""
    return [str(c)[len(W_PREFIX):] for c in columns if str(c).startswith(W_PREFIX)]


def metrics_of(columns: Iterable) -> list[str]:
    """Metric names of the metric columns, in column order."""
    return [str(c)[len(M_PREFIX):] for c in columns if str(c).startswith(M_PREFIX)]


def metric_dict(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Metric name -> ``(n_rows,)`` values of every metric column."""
    return {m: table[mcol(m)].to_numpy() for m in metrics_of(table.columns)}


def lead_columns(with_tokens: bool) -> list[str]:
    """The non-prefixed columns in their canonical order."""
    return [*REQUIRED, *(["tokens"] if with_tokens else [])]


def empty(domains: Sequence[str]) -> pd.DataFrame:
    """A table with no rows (the lead and weight columns only)."""
    return pd.DataFrame(columns=[*REQUIRED, *wcols(domains)])


@dataclass
class LoggedRuns:
    """A validated logged-run table.

    Attributes:
        table: the rows sorted by (run_id, step), weights renormalised to sum to 1 exactly.
        domains: training domains (the ``w:`` columns, in table order).
        metrics: metric names (the ``m:`` columns, in table order).
        scales: scale name -> parameter count.
        source: where the table came from (for messages).
    """

    table: pd.DataFrame
    domains: tuple[str, ...]
    metrics: tuple[str, ...]
    scales: dict[str, float]
    source: str = "table"

    @property
    def w_cols(self) -> list[str]:
        return wcols(self.domains)

    @property
    def m_cols(self) -> list[str]:
        return mcols(self.metrics)

    @property
    def has_tokens(self) -> bool:
        return "tokens" in self.table.columns and bool(self.table["tokens"].notna().all())

    def runs(self) -> pd.DataFrame:
        """One row per run: run_id, scale, params, first/last step, n_rows, and the weights. ``(n_runs, ...)``"""
        g = self.table.groupby("run_id", sort=False)
        out = g[["scale", "params"]].first()
        out["first_step"] = g["step"].min()
        out["last_step"] = g["step"].max()
        out["n_rows"] = g.size()
        out[self.w_cols] = g[self.w_cols].first()
        return out.reset_index()

    def weights(self) -> np.ndarray:
        """``(n_rows, K)`` weights of every row."""
        return self.table[self.w_cols].to_numpy(float)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or parquet table (by extension)."""
    p = Path(path)
    if not p.is_file():
        raise BomixError(f"logged-run table {p} not found: give the path of a .csv or .parquet file")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p, dtype={"run_id": str, "scale": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BomixError(f"cannot read {p} as a table ({first}): give a CSV or parquet file") from None


def load(path: str | Path) -> LoggedRuns:
    """Read and validate a logged-run table."""
    return validate(read_table(path), source=str(path))


def validate(df: pd.DataFrame, source: str = "table") -> LoggedRuns:
    """Check a table in the logged-run format; raise a one-line BomixError on the first problem.

    The checks run in this order: columns, cell types and ranges, weights, metric values, then
    consistency within runs and scales (each step is one helper below).

    Args:
        df: the raw table.
        source: name used in messages.

    Returns:
        The validated runs (a sorted copy with renormalised weights).
    """
    where = source
    w_cols, m_cols = _check_columns(df, where)
    df = df.copy()
    _coerce_cells(df, where, w_cols, m_cols)
    _normalise_weights(df, where, w_cols)
    _check_metric_values(df, where, m_cols)
    _check_runs(df, where, w_cols, m_cols)
    df = df.sort_values(["run_id", "step"], kind="stable").reset_index(drop=True)
    scales = {str(s): float(p) for s, p in df.groupby("scale")["params"].first().items()}
    return LoggedRuns(df, tuple(domains_of(w_cols)), tuple(metrics_of(m_cols)), scales, source)


def _line(i: int) -> str:
    """CSV line number of row ``i`` (the header is line 1)."""
    return f"row {i + 2}"


def _check_columns(df: pd.DataFrame, where: str) -> tuple[list, list]:
    """The weight and metric columns of ``df`` (in column order), after checking the column set and that rows exist."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BomixError(f"{where}: missing column(s) {missing}; the format needs {list(REQUIRED)}, "
                         "w:<domain> and m:<metric> columns (see simulator/README.md)")
    w_cols = [c for c in df.columns if str(c).startswith(W_PREFIX)]
    m_cols = [c for c in df.columns if str(c).startswith(M_PREFIX)]
    if len(w_cols) < 2:
        raise BomixError(f"{where}: needs >= 2 weight columns named w:<domain>, found {w_cols}")
    if not m_cols:
        raise BomixError(f"{where}: needs >= 1 metric column named m:<metric>, found none")
    if any(not str(c)[2:] for c in w_cols + m_cols):
        raise BomixError(f"{where}: a w:/m: column has an empty name after the prefix")
    extra = [c for c in df.columns if c not in (*REQUIRED, "tokens", *w_cols, *m_cols)]
    if extra:
        raise BomixError(f"{where}: unknown column(s) {extra}: prefix weights with w: and metrics with m:")
    if len(df) == 0:
        raise BomixError(f"{where}: the table has no rows")
    return w_cols, m_cols


def _coerce_cells(df: pd.DataFrame, where: str, w_cols: list, m_cols: list) -> None:
    """In place: run_id/scale to non-empty strings, the numeric columns to float (``step`` to int64),
    checking that params/step/weights are present everywhere, step a positive integer, params and tokens > 0."""
    for c in ("run_id", "scale"):
        bad = df[c].isna() | (df[c].astype(str).str.strip() == "")
        if bad.any():
            raise BomixError(f"{where}: empty {c} at {_line(int(np.argmax(bad.to_numpy())))}")
        df[c] = df[c].astype(str)
    for c in ("params", "step", *w_cols, *m_cols, *(["tokens"] if "tokens" in df.columns else [])):
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() & df[c].notna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise BomixError(f"{where}: column {c} has a non-number {df[c].iloc[i]!r} at {_line(i)}")
        df[c] = num.astype(float)
    for c in ("params", "step", *w_cols):
        bad = ~np.isfinite(df[c].to_numpy(float))
        if bad.any():
            raise BomixError(f"{where}: column {c} is empty or NaN at {_line(int(np.argmax(bad)))}: "
                             f"every row needs {c}")
    step = df["step"].to_numpy(float)
    if np.any(step <= 0) or np.any(step != np.round(step)):
        i = int(np.argmax((step <= 0) | (step != np.round(step))))
        raise BomixError(f"{where}: step must be a positive integer, got {step[i]} at {_line(i)}")
    df["step"] = step.astype(np.int64)
    if np.any(df["params"].to_numpy() <= 0):
        raise BomixError(f"{where}: params must be > 0 (model parameter count) at "
                         f"{_line(int(np.argmax(df['params'].to_numpy() <= 0)))}")
    if "tokens" in df.columns:
        tok = df["tokens"].to_numpy(float)
        if np.any(tok[np.isfinite(tok)] <= 0):
            raise BomixError(f"{where}: tokens must be > 0 where given")


def weight_fault(W: np.ndarray) -> tuple[int, float | None] | None:
    """The first row of ``W (n, K)`` that breaks the weight rule, ``(row, None)`` for a negative weight or
    ``(row, its sum)`` for a sum off 1 by more than ``WEIGHT_TOL``; None when every row is a mixture. The one
    statement of the rule: every reader of logged weights calls it and words the error for its own file."""
    neg = (W < 0).any(1)
    if neg.any():
        return int(np.argmax(neg)), None
    sums = W.sum(1)
    bad = np.abs(sums - 1.0) > WEIGHT_TOL
    return (int(np.argmax(bad)), float(sums[int(np.argmax(bad))])) if bad.any() else None


def _normalise_weights(df: pd.DataFrame, where: str, w_cols: list) -> None:
    """In place: check the ``(n_rows, K)`` weights are >= 0 and sum to 1 within ``WEIGHT_TOL``; renormalise them."""
    W = df[w_cols].to_numpy(float)
    fault = weight_fault(W)
    if fault is not None:
        i, total = fault
        if total is None:
            raise BomixError(f"{where}: negative weight at {_line(i)}: weights must be >= 0")
        raise BomixError(f"{where}: weights at {_line(i)} (run {df['run_id'].iloc[i]!r}) sum to {total:.4g}, "
                         f"not 1 (tolerance {WEIGHT_TOL}): give each run's domain weights summing to 1")
    df[w_cols] = W / W.sum(1)[:, None]


def _check_metric_values(df: pd.DataFrame, where: str, m_cols: list) -> None:
    """Metric values must be finite or empty, and within +-``MAX_METRIC``."""
    for c in m_cols:
        v = df[c].to_numpy(float)
        if np.any(np.isinf(v)):
            raise BomixError(f"{where}: column {c} has an infinite value at {_line(int(np.argmax(np.isinf(v))))}")
        huge = np.abs(np.nan_to_num(v)) > MAX_METRIC
        if huge.any():
            i = int(np.argmax(huge))
            raise BomixError(f"{where}: column {c} has {v[i]:.4g} at {_line(i)} (run {df['run_id'].iloc[i]!r}), "
                             f"beyond +-{MAX_METRIC:g}: fix that value, or leave it empty (= not measured)")


def _check_runs(df: pd.DataFrame, where: str, w_cols: list, m_cols: list) -> None:
    """Consistency across rows: one row per (run, step), one mixture/scale/params per run, scale names
    and parameter counts one-to-one, and no metric column empty in every row."""
    dup = df.duplicated(["run_id", "step"])
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        raise BomixError(f"{where}: run {df['run_id'].iloc[i]!r} has two rows for step {df['step'].iloc[i]} "
                         f"({_line(i)}): one row per (run, step)")
    g = df.groupby("run_id", sort=False)
    spread = (g[w_cols].max() - g[w_cols].min()).max(axis=1)
    if (spread > SAME_MIXTURE_TOL).any():
        rid = spread.index[int(np.argmax((spread > SAME_MIXTURE_TOL).to_numpy()))]
        raise BomixError(f"{where}: run {rid!r} has two mixtures (weights change between its rows): "
                         "one run = one mixture; give schedule phases their own run_id")
    for c in ("scale", "params"):
        if (g[c].nunique() > 1).any():
            rid = g[c].nunique().index[int(np.argmax((g[c].nunique() > 1).to_numpy()))]
            raise BomixError(f"{where}: run {rid!r} has more than one {c}: one run = one model")
    per_scale = df.groupby("scale")["params"].nunique()
    if (per_scale > 1).any():
        raise BomixError(f"{where}: scale {per_scale.index[int(np.argmax((per_scale > 1).to_numpy()))]!r} has "
                         "two different params values: one parameter count per scale name")
    per_params = df.groupby("params")["scale"].nunique()
    if (per_params > 1).any():
        raise BomixError(f"{where}: params {per_params.index[int(np.argmax((per_params > 1).to_numpy()))]:.4g} "
                         "is used by two scale names: one scale name per parameter count")
    if df[m_cols].isna().all().any():
        c = [c for c in m_cols if df[c].isna().all()][0]
        raise BomixError(f"{where}: metric column {c} is empty in every row: drop it or fill it")
