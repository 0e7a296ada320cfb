"""Fitting a model-mode simulator's per-metric models (in parallel over metrics, with a progress bar)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bomix.backends.replay.model import HYPER_TRAIN, MetricModel, fit_metric
from bomix.executors.parent_watch import die_with_parent, guard_args
from bomix.runtable import LoggedRuns, mcol
from bomix.space import Space


def encode(space: Space, runs: LoggedRuns, table: pd.DataFrame | None = None) -> np.ndarray:
    """``(n_rows, K + 2)`` GP inputs of a table's rows."""
    t = runs.table if table is None else table
    return space.encode(t[runs.w_cols].to_numpy(float), list(t["scale"]), t["step"].to_numpy(float))


def _fit_one(args: tuple) -> MetricModel:
    x, y, rid, seed, max_train, hyper, hyper_train = args
    return fit_metric(x, y, rid, seed=seed, max_train=max_train, hyper=hyper, hyper_train=hyper_train)


def default_workers(n_metrics: int) -> int:
    """Worker processes for the per-metric fits: one per available core (at most 4), one for < 4 metrics
    (starting a worker costs ~3 s of imports, more than a small fit)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 1 if n_metrics < 4 else max(1, min(4, cores, n_metrics))


def fit_models(space: Space, runs: LoggedRuns, table: pd.DataFrame, metrics: list[str], seed: int,
               max_train: int, reuse: dict[str, MetricModel] | None = None, workers: int | None = None,
               progress: bool = False, desc: str = "fit", hyper_train: int = HYPER_TRAIN) -> dict[str, MetricModel]:
    """One model per metric on ``table``'s rows where that metric is measured.

    Args:
        reuse: metric -> a model whose hyperparameters to reuse (no optimisation: fast refit).
        workers: processes over metrics (default :func:`default_workers`; 1 = in this process).
        progress: a tqdm bar on stderr.
        hyper_train: rows the hyperparameters are optimised on (see :func:`fit_metric`).
    """
    x = encode(space, runs, table)
    jobs = []
    for m in metrics:
        y = table[mcol(m)].to_numpy(float)
        ok = np.isfinite(y)
        hyper = None if reuse is None else (reuse[m].lengthscale, reuse[m].const, reuse[m].noise)
        jobs.append((x[ok], y[ok], table["run_id"].to_numpy()[ok], seed, max_train, hyper, hyper_train))
    workers = default_workers(len(metrics)) if workers is None else max(1, int(workers))
    if reuse is not None:  # a refit is one linear solve per metric: processes would cost more than they save
        workers = 1
    bar = tqdm(total=len(jobs), desc=desc, unit="metric", file=sys.stderr, disable=not progress, leave=False)
    out: dict[str, MetricModel] = {}
    try:
        if workers == 1:
            for m, job in zip(metrics, jobs):
                out[m] = _fit_one(job)
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")  # torch state is not fork-safe
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent,
                                     initargs=guard_args()) as ex:
                futs = {ex.submit(_fit_one, job): m for m, job in zip(metrics, jobs)}
                for f in as_completed(futs):
                    out[futs[f]] = f.result()
                    bar.update()
    finally:
        bar.close()
    return {m: out[m] for m in metrics}
