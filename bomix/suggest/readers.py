"""Logged-run files in the formats practitioners have -> the logged-run long format (:mod:`bomix.runtable`).

Four formats, each read into the long table and then checked by :func:`bomix.runtable.validate`:

- ``long``: the project's format (``simulator/README.md``), CSV or parquet, e.g. a ``bomix export``.
- ``regmix``: RegMix's CSVs (sail-sg/regmix ``data/``): a mixture file (``index`` + ``train_the_pile_<domain>``)
  and its loss file beside it (``index`` + ``metric/the_pile_<domain>_val_loss``), converted by the shipped
  converter :func:`bomix.simulators.regmix.convert.convert_set`; a directory reads every pair of its files.
- ``olmix``: Olmix's ``ratios.csv`` (``run_id``, optional ``name``, one column per domain) and ``metrics.csv``
  (``run_id``, optional ``name``, one column per metric) in one directory, joined on ``run_id``.
- ``wandb``: a Weights & Biases runs-table export ("Download CSV"): one row per run, ``Name``, config columns
  (the weights: ``mix.<domain>`` or ``weights/<domain>``) and summary columns (the metrics), mapped by
  :class:`WandbColumns`.

The wide formats (one row per run, final values only) log no model scale or steps: their runs are given
one fidelity (``--fidelity SCALE@STEPS --params N``; RegMix's files are known by name). Every problem is
one :class:`~bomix.errors.BomixError` line saying what is wrong and how to fix it. Files are read as
data only (``pandas.read_csv`` / ``read_parquet``): nothing in them is executed.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.runtable import LoggedRuns, WEIGHT_TOL, domains_of, mcol, read_table, validate, wcol, weight_fault
from bomix.space import Fidelity

log = logging.getLogger("bomix.suggest")

FORMATS = ("long", "regmix", "olmix", "wandb")
#: the fidelity given to runs of a wide format that logs none (and the parameter count of its scale)
SWARM_FIDELITY, SWARM_PARAMS = Fidelity("proxy", 1), 1.0
OLMIX_FILES = ("ratios.csv", "metrics.csv")
#: Olmix's id and optional display-name columns (neither a domain nor a metric)
OLMIX_ID, OLMIX_META = "run_id", ("run_id", "name")
#: RegMix's mixture columns start with this; its index column joins a mixture file to its loss file
REGMIX_PREFIX, REGMIX_INDEX = "train_the_pile_", "index"
#: the weight-column prefixes a W&B export is searched for when ``weights`` is not mapped
WANDB_WEIGHT_PREFIXES = ("mix.", "weights/")


@dataclass(frozen=True)
class WandbColumns:
    """Which columns of a W&B runs export hold what (``--map KEY=VALUE``).

    Attributes:
        run: the run id column (default ``Name``; names must be unique, else map ``run=ID``).
        weights: prefix of the weight columns (``<prefix><domain>``); default whichever of
            ``WANDB_WEIGHT_PREFIXES`` the file has.
        metrics: metric columns: exact column names, or prefixes (every column starting with one); default
            the objective's metrics (``--objective``).
        steps / params: columns holding each run's training steps / parameter count (default: one fidelity
            for every run, ``--fidelity`` / ``--params``).
    """

    run: str = "Name"
    weights: str | None = None
    metrics: tuple[str, ...] = ()
    steps: str | None = None
    params: str | None = None

    KEYS = ("run", "weights", "metrics", "steps", "params")

    @classmethod
    def parse(cls, items: Sequence[str] | None) -> "WandbColumns":
        """``["run=ID", "metrics=eval/loss,eval/acc"]`` -> the mapping; a one-line error for a bad item."""
        pairs: dict[str, str] = {}
        for item in items or []:
            key, sep, value = str(item).partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in cls.KEYS or not value:
                raise BomixError(f"bad --map {item!r}: write KEY=COLUMN with KEY one of {', '.join(cls.KEYS)}, "
                                 "e.g. --map run=ID --map weights=mix. --map metrics=eval/loss")
            pairs[key] = value
        metrics = tuple(m.strip() for m in pairs.pop("metrics", "").split(",") if m.strip())
        return cls(**pairs, metrics=metrics)


@dataclass
class Swarm:
    """Logged runs read from one file, validated.

    Attributes:
        runs: the validated long table (:class:`bomix.runtable.LoggedRuns`).
        order: run ids in the file's order (a ``bomix export`` lists them in the campaign's order).
        format: which reader read it (one of :data:`FORMATS`).
        notes: what the reader left out (e.g. Olmix runs without metrics), one line each.
    """

    runs: LoggedRuns
    order: list[str]
    format: str
    notes: list[str] = field(default_factory=list)


def read_runs(path: str | Path, fmt: str = "auto", *, fidelity: Fidelity | None = None, params: float | None = None,
              columns: WandbColumns | None = None, metrics: Sequence[str] = (), domains: Sequence[str] | None = None,
              runs: str | None = None) -> Swarm:
    """Read a logged-run file in any of :data:`FORMATS` and validate it.

    Args:
        path: the file (or directory: RegMix's ``data/``, Olmix's folder with ``ratios.csv`` and ``metrics.csv``).
        fmt: one of :data:`FORMATS`, or ``auto`` (:func:`detect_format`).
        fidelity / params: the fidelity of every run of a wide format and its scale's parameter count (default
            RegMix's own for its files, else :data:`SWARM_FIDELITY` with :data:`SWARM_PARAMS`).
        columns: the W&B column mapping; metrics: the metrics a W&B export must provide when ``columns`` names
            none (the objective's).
        domains: when given, the training domains the file must have, exactly (also their order).
        runs: keep only the runs whose id matches this shell pattern (``1M-train-*``).
    """
    path = Path(path)
    if not path.exists():
        raise BomixError(f"{path} not found: give a logged-run CSV (or a RegMix/Olmix data folder)")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise BomixError(f"unknown format {fmt!r}: use one of auto, {', '.join(FORMATS)}")
    if fidelity is None and params is not None:
        raise BomixError("--params needs --fidelity SCALE@STEPS (the runs' scale name and steps)")
    if fmt == "long" and fidelity is not None:
        raise BomixError(f"{path} is in the long format, which logs each run's scale and steps: leave out --fidelity")
    if fmt != "wandb" and columns is not None and columns != WandbColumns():
        raise BomixError(f"--map applies to W&B exports only; {path} is in the {fmt} format")
    notes: list[str] = []
    if fmt == "long":
        df = read_table(path)
    elif fmt == "regmix":
        df = read_regmix(path, fidelity, params)
    elif fmt == "olmix":
        df = read_olmix(path, fidelity, params, notes)
    else:
        df = read_wandb(path, columns or WandbColumns(), metrics, fidelity, params)
    df = _check_domains(_select(df, runs, path), domains, path)
    order = [str(r) for r in pd.unique(df["run_id"].astype(str))] if "run_id" in df.columns else []
    logged = validate(df, source=str(path))
    return Swarm(logged, order, fmt, notes)


def detect_format(path: Path) -> str:
    """The format of ``path`` from its name and header (one-line error when it cannot tell)."""
    if path.is_dir():
        if all((path / f).is_file() for f in OLMIX_FILES):
            return "olmix"
        if any((path / s.mix_file).is_file() for s in _regmix_sets()):
            return "regmix"
        raise BomixError(f"{path} is a folder with neither Olmix's {' and '.join(OLMIX_FILES)} nor RegMix's "
                         "mixture files: give a file, or a folder of one of those formats")
    if path.name in OLMIX_FILES:
        return "olmix"
    if path.suffix.lower() in (".parquet", ".pq"):
        return "long"
    try:
        head = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise BomixError(f"{path} is empty: it holds no runs") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise BomixError(f"cannot read {path} as CSV ({_first_line(exc)}): give a CSV or parquet file") from None
    if "run_id" in head and domains_of(head):
        return "long"
    if REGMIX_INDEX in head and any(c.startswith(REGMIX_PREFIX) for c in head):
        return "regmix"
    if REGMIX_INDEX in head and any(c.startswith("metric/") for c in head):
        raise BomixError(f"{path} is a RegMix loss file: give its mixture file (…_mixture_….csv); the loss file "
                         "beside it is found by name")
    if "Name" in head:
        return "wandb"
    raise BomixError(f"cannot tell the format of {path} from its columns {head[:8]}: pass --format "
                     f"{'|'.join(FORMATS)}")


# ----- RegMix ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RegMixSet:
    prefix: str
    scale: str
    params: float
    mix_file: str
    loss_file: str
    steps: int


def _regmix_sets() -> list[_RegMixSet]:
    """RegMix's file pairs and their fidelities, as the shipped converter knows them."""
    from bomix.simulators.regmix.convert import SETS

    return [_RegMixSet(*s) for s in SETS]


def read_regmix(path: Path, fidelity: Fidelity | None = None, params: float | None = None) -> pd.DataFrame:
    """RegMix's mixture file (its loss file found beside it), or a folder of them -> the long table."""
    from bomix.simulators.regmix.convert import convert_set

    if path.is_dir():
        if fidelity is not None:
            raise BomixError(f"--fidelity applies to one RegMix mixture file, not the folder {path}: each of its "
                             "files has its own fidelity")
        sets = [(path / s.mix_file, s) for s in _regmix_sets() if (path / s.mix_file).is_file()]
    else:
        known = {s.mix_file: s for s in _regmix_sets()}
        s = known.get(path.name)
        if s is None:
            loss = path.name.replace("mixture", "pile_loss")
            if loss == path.name:
                raise BomixError(f"{path} is not named like a RegMix mixture file (…_mixture_….csv), so its loss "
                                 "file cannot be found: rename it, or convert it to the long format")
            at = fidelity or SWARM_FIDELITY
            s = _RegMixSet(path.stem, at.scale, float(params or SWARM_PARAMS), path.name, loss, at.steps)
        elif fidelity is not None:
            s = _RegMixSet(s.prefix, fidelity.scale, float(params or s.params), s.mix_file, s.loss_file,
                           fidelity.steps)
        sets = [(path, s)]
    parts = []
    for mix_path, s in sets:
        loss_path = mix_path.with_name(s.loss_file)
        if not loss_path.is_file():
            raise BomixError(f"{mix_path} has no loss file {loss_path.name} beside it: RegMix pairs each mixture "
                             "file with its loss file (same index column)")
        mix, loss = _read_csv(mix_path), _read_csv(loss_path)
        for df, p in ((mix, mix_path), (loss, loss_path)):
            _need(df, [REGMIX_INDEX], p, "RegMix's files join mixtures to losses on it")
            _no_rows(df, p)
        w_cols = [c for c in mix.columns if c != REGMIX_INDEX]
        bad = [c for c in w_cols if not c.startswith(REGMIX_PREFIX)]
        if bad:
            raise BomixError(f"{mix_path}: column(s) {bad[:4]} are not RegMix weights ({REGMIX_PREFIX}<domain>): "
                             "a RegMix mixture file holds only index and the weights")
        ids = mix[REGMIX_INDEX].astype(str)
        _check_weights(mix, w_cols, ids, mix_path)
        _check_numbers(loss, [c for c in loss.columns if c != REGMIX_INDEX], loss[REGMIX_INDEX].astype(str),
                       loss_path, "metric")
        mix, loss = mix.set_index(REGMIX_INDEX), loss.set_index(REGMIX_INDEX)
        if not mix.index.equals(loss.index):
            raise BomixError(f"{mix_path.name} and {loss_path.name} do not list the same index values in the same "
                             "order: each mixture row needs its loss row")
        parts.append(convert_set(mix, loss, s.prefix, s.scale, s.params, s.steps))
    return pd.concat(parts, ignore_index=True)


# ----- Olmix -------------------------------------------------------------------------------------
def read_olmix(path: Path, fidelity: Fidelity | None, params: float | None,
               notes: list[str] | None = None) -> pd.DataFrame:
    """Olmix's ``ratios.csv`` + ``metrics.csv`` (a folder holding both, or either file) -> the long table.

    Runs in ``ratios.csv`` without a row in ``metrics.csv`` (not finished) are left out, as Olmix does; a
    note says how many.
    """
    folder = path if path.is_dir() else path.parent
    ratios_path, metrics_path = (folder / f for f in OLMIX_FILES)
    for p in (ratios_path, metrics_path):
        if not p.is_file():
            raise BomixError(f"{folder} has no {p.name}: Olmix's format is {' and '.join(OLMIX_FILES)} in one "
                             "folder")
    ratios = _read_csv(ratios_path, {OLMIX_ID: str})
    metrics = _read_csv(metrics_path, {OLMIX_ID: str})
    for df, p in ((ratios, ratios_path), (metrics, metrics_path)):
        _need(df, [OLMIX_ID], p, "Olmix joins ratios.csv and metrics.csv on it")
        _no_rows(df, p)
        _unique(df[OLMIX_ID], p, OLMIX_ID)
    w_cols = [c for c in ratios.columns if c not in OLMIX_META]
    m_cols = [c for c in metrics.columns if c not in OLMIX_META]
    if len(w_cols) < 2:
        raise BomixError(f"{ratios_path}: needs a column per domain (>= 2) beside run_id, found {w_cols}")
    if not m_cols:
        raise BomixError(f"{metrics_path}: needs a column per metric beside run_id, found none")
    _check_weights(ratios, w_cols, ratios[OLMIX_ID], ratios_path)
    _check_numbers(metrics, m_cols, metrics[OLMIX_ID], metrics_path, "metric")
    stray = sorted(set(metrics[OLMIX_ID]) - set(ratios[OLMIX_ID]))
    if stray:
        raise BomixError(f"{metrics_path}: run(s) {stray[:3]} are not in ratios.csv: every run with metrics needs "
                         "its mixture")
    joined = ratios[[OLMIX_ID, *w_cols]].merge(metrics[[OLMIX_ID, *m_cols]], on=OLMIX_ID, how="inner",
                                               suffixes=("", " (metric)"))
    dropped = len(ratios) - len(joined)
    if dropped and notes is not None:
        notes.append(f"{dropped} run(s) of ratios.csv have no metrics (not finished?): left out")
    return _wide_to_long(joined[OLMIX_ID], joined[w_cols], joined[[c for c in joined.columns
                                                                    if c not in (OLMIX_ID, *w_cols)]],
                         w_cols, fidelity, params)


# ----- Weights & Biases --------------------------------------------------------------------------
def read_wandb(path: Path, columns: WandbColumns, metrics: Sequence[str] = (), fidelity: Fidelity | None = None,
               params: float | None = None) -> pd.DataFrame:
    """A W&B runs export -> the long table (see :class:`WandbColumns` for the mapping and its defaults)."""
    df = _read_csv(path, {columns.run: str})
    _need(df, [columns.run], path, "map the run id column with --map run=COLUMN")
    _no_rows(df, path)
    empty = df[columns.run].isna().to_numpy()
    if empty.any():
        raise BomixError(f"{path}: a run has an empty {columns.run!r} at {_row(int(np.argmax(empty)))}: every run "
                         "needs an id")
    _unique(df[columns.run], path, columns.run, hint=" (W&B display names can repeat: map run=ID)")
    prefix = columns.weights or _weight_prefix(df, path)
    w_cols = [c for c in df.columns if str(c).startswith(prefix) and len(str(c)) > len(prefix)]
    if len(w_cols) < 2:
        raise BomixError(f"{path}: needs a weight column per domain (>= 2) named {prefix}<domain>, found {w_cols}: "
                         "map the prefix with --map weights=PREFIX")
    wanted = columns.metrics or tuple(metrics)
    if not wanted:
        numeric = [c for c in df.columns if c not in w_cols and c != columns.run
                   and pd.to_numeric(df[c], errors="coerce").notna().any()]
        raise BomixError(f"{path}: a W&B export does not say which columns are metrics: pass --objective COLUMN or "
                         f"--map metrics=COLUMN[,PREFIX...] (numeric columns: {numeric[:10]})")
    m_cols = _metric_columns(df, wanted, set(w_cols) | {columns.run}, path)
    ids = df[columns.run].astype(str)
    _check_weights(df, w_cols, ids, path)
    _check_numbers(df, m_cols, ids, path, "metric")
    fid_cols = {k: getattr(columns, k) for k in ("steps", "params") if getattr(columns, k)}
    if fid_cols and fidelity is not None:
        raise BomixError("give each run's fidelity either by columns (--map steps=/params=) or by --fidelity, "
                         "not both")
    _need(df, list(fid_cols.values()), path, "map it to an existing column")
    _check_numbers(df, list(fid_cols.values()), ids, path, "fidelity", required=True)
    renamed = df[w_cols].rename(columns=lambda c: str(c)[len(prefix):])
    out = _wide_to_long(ids, renamed, df[m_cols], list(renamed.columns), fidelity, params)
    if "steps" in fid_cols:
        out["step"] = pd.to_numeric(df[fid_cols["steps"]]).to_numpy()
    if "params" in fid_cols:
        p = pd.to_numeric(df[fid_cols["params"]]).to_numpy(float)
        out["params"], out["scale"] = p, [scale_label(x) for x in p]
    return out


def _weight_prefix(df: pd.DataFrame, path: Path) -> str:
    """The one of :data:`WANDB_WEIGHT_PREFIXES` the export's columns use."""
    found = [p for p in WANDB_WEIGHT_PREFIXES if sum(str(c).startswith(p) for c in df.columns) >= 2]
    if len(found) != 1:
        what = "both " + " and ".join(found) if found else "neither " + " nor ".join(WANDB_WEIGHT_PREFIXES)
        raise BomixError(f"{path}: the weight columns use {what}: say which with --map weights=PREFIX")
    return found[0]


def _metric_columns(df: pd.DataFrame, wanted: Sequence[str], taken: set, path: Path) -> list[str]:
    """The columns named by ``wanted`` (exact names, else prefixes), in file order."""
    out: list[str] = []
    for m in wanted:
        hits = [m] if m in df.columns else [c for c in df.columns if str(c).startswith(m) and c not in taken]
        if not hits:
            raise BomixError(f"{path}: no column {m!r} (nor one starting with it) for the metric: "
                             f"choose among {[c for c in df.columns if c not in taken][:10]}")
        out += [c for c in hits if c not in out]
    return out


def scale_label(params: float) -> str:
    """A scale name for a parameter count: ``6e7`` -> ``60M``, ``1e9`` -> ``1B``, ``3e5`` -> ``300K``."""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= div:
            return f"{params / div:.4g}{unit}"
    return f"{params:.4g}"


# ----- shared helpers ----------------------------------------------------------------------------
def _wide_to_long(ids: pd.Series, weights: pd.DataFrame, metrics: pd.DataFrame, domains: Sequence[str],
                  fidelity: Fidelity | None, params: float | None) -> pd.DataFrame:
    """One row per run -> the long table (one row per run at the given fidelity)."""
    at = fidelity or SWARM_FIDELITY
    n = len(ids)
    out = pd.DataFrame({"run_id": ids.astype(str).to_numpy(), "scale": [at.scale] * n,
                        "params": np.full(n, float(params or SWARM_PARAMS)), "step": np.full(n, int(at.steps))})
    w = pd.DataFrame({wcol(d): pd.to_numeric(weights[c]).to_numpy(float)
                      for d, c in zip(domains, weights.columns)})
    m = pd.DataFrame({mcol(str(c)): pd.to_numeric(metrics[c], errors="coerce").to_numpy(float)
                      for c in metrics.columns})
    return pd.concat([out, w, m], axis=1)


def _read_csv(path: Path, dtype: Mapping | None = None) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=dict(dtype or {}))
    except pd.errors.EmptyDataError:
        raise BomixError(f"{path} is empty: it holds no runs") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise BomixError(f"cannot read {path} as CSV ({_first_line(exc)}): give a comma-separated file") from None


def _need(df: pd.DataFrame, cols: Sequence[str], path: Path, why: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise BomixError(f"{path}: missing column {missing[0]!r} ({why}); it has {[str(c) for c in df.columns][:8]}")


def _no_rows(df: pd.DataFrame, path: Path) -> None:
    if len(df) == 0:
        raise BomixError(f"{path} has no runs (a header and no rows): log at least one run")


def _unique(ids: pd.Series, path: Path, col: str, hint: str = "") -> None:
    dup = ids.duplicated()
    if dup.any():
        raise BomixError(f"{path}: run {ids[dup].iloc[0]!r} appears twice in column {col!r}: one row per run{hint}")


def _check_numbers(df: pd.DataFrame, cols: Sequence[str], ids: pd.Series, path: Path, what: str,
                   required: bool = False) -> None:
    """Every cell of ``cols`` is a number, or empty (= not measured) unless ``required``."""
    for c in cols:
        num = pd.to_numeric(df[c], errors="coerce")
        text = (num.isna() & df[c].notna()).to_numpy()
        if text.any():
            i = int(np.argmax(text))
            raise BomixError(f"{path}: {what} column {c!r} has a non-number {df[c].iloc[i]!r} at {_row(i)} "
                             f"(run {ids.iloc[i]!r}): {what}s must be numbers"
                             + ("" if required else " (empty = not measured)"))
        empty = num.isna().to_numpy()
        if required and empty.any():
            i = int(np.argmax(empty))
            raise BomixError(f"{path}: {what} column {c!r} is empty at {_row(i)} (run {ids.iloc[i]!r}): every run "
                             f"needs one" + (" (0 when the domain is unused)" if what == "weight" else ""))


def _check_weights(df: pd.DataFrame, cols: Sequence[str], ids: pd.Series, path: Path) -> None:
    """Weights are numbers >= 0, present, and each run's sum to 1 within :data:`bomix.runtable.WEIGHT_TOL`."""
    _check_numbers(df, cols, ids, path, "weight", required=True)
    fault = weight_fault(df[list(cols)].apply(pd.to_numeric).to_numpy(float))
    if fault is None:
        return
    i, total = fault
    if total is None:
        raise BomixError(f"{path}: negative weight at {_row(i)} (run {ids.iloc[i]!r}): weights must be >= 0")
    raise BomixError(f"{path}: the weights of run {ids.iloc[i]!r} ({_row(i)}) sum to {total:.4g}, not 1 "
                     f"(tolerance {WEIGHT_TOL}): give each run's domain weights summing to 1")


def _select(df: pd.DataFrame, pattern: str | None, path: Path) -> pd.DataFrame:
    """The rows of the runs whose id matches ``pattern`` (all rows when None)."""
    if pattern is None or "run_id" not in df.columns:
        return df
    ids = df["run_id"].astype(str)
    keep = ids.map(lambda r: fnmatch.fnmatchcase(r, pattern)).to_numpy(bool)
    if not keep.any():
        raise BomixError(f"no run of {path} matches --runs {pattern!r} (its ids look like "
                         f"{list(pd.unique(ids))[:3]})")
    return df[keep].reset_index(drop=True)


def _check_domains(df: pd.DataFrame, domains: Sequence[str] | None, path: Path) -> pd.DataFrame:
    """When ``domains`` is given: the file has exactly those weight columns, returned in that order."""
    if domains is None:
        return df
    have = domains_of(df.columns)
    unknown = [d for d in have if d not in domains]
    if unknown:
        raise BomixError(f"{path}: unknown domain(s) {unknown[:4]}, not in --domains {list(domains)}: add them "
                         "to --domains, or drop them from the file")
    missing = [d for d in domains if d not in have]
    if missing:
        raise BomixError(f"{path}: no weights for domain(s) {missing[:4]} of --domains: give every run a weight "
                         "for each (0 when unused)")
    weights = [wcol(d) for d in domains]
    return df[[c for c in df.columns if c not in set(weights)] + weights]


def _row(i: int) -> str:
    """CSV line of data row ``i`` (the header is line 1)."""
    return f"row {i + 2}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
