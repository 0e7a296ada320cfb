"""Run a grid of campaigns (a benchmark) as ordinary resumable ``bomix run`` campaigns, in parallel.

Each job is a list of Hydra overrides of ``conf/config.yaml`` (exactly what ``bomix run`` takes) and
a campaign directory. A job whose directory holds a ``summary.json`` is skipped; an interrupted one
resumes from its store, so a killed sweep continues where it stopped. Jobs run in worker processes
(one torch thread each), results are yielded as they finish.

Example::

    jobs = grid(out / "campaigns", backends={"mfms": ["backend=mfms", "problem=mfms_stackexchange"]},
                policies={"random": ["policy=random"]}, seeds=range(5), budget=3)
    for result in run_jobs(jobs, n_jobs=2):
        print(result)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from bomix.executors.parent_watch import die_with_parent, guard_args
from bomix.layout import CampaignLayout


@dataclass(frozen=True)
class Job:
    """One campaign: its directory and the ``bomix run`` overrides that define it."""

    directory: str
    overrides: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return CampaignLayout(self.directory).summary.exists()


def grid(root: str | Path, backends: Mapping[str, Sequence[str]], policies: Mapping[str, Sequence[str]],
         seeds: Iterable[int], budget: float, extra: Sequence[str] = ()) -> list[Job]:
    """Jobs for every (backend, policy, seed): ``root/<backend>/<policy>/seed<k>``.

    Args:
        backends: label -> overrides selecting backend and problem (e.g. ``["backend=mfms", "problem=..."]``).
        policies: label -> overrides selecting the policy and its settings.
        extra: overrides added to every job.
    """
    jobs = []
    for b, b_over in backends.items():
        for p, p_over in policies.items():
            for s in seeds:
                over = (*b_over, *p_over, f"seed={int(s)}", f"budget={float(budget)}", "progress=false", *extra)
                jobs.append(Job(str(Path(root) / b / p / f"seed{int(s)}"), tuple(over),
                                {"backend": b, "policy": p, "seed": str(int(s))}))
    return jobs


def check_names(names: Sequence[str], known: Iterable[str], what: str) -> list[str]:
    """``names`` if each is in ``known``, else a BomixError naming the first unknown one and the choices."""
    from bomix.errors import BomixError

    known = sorted(known)
    for n in names:
        if n not in known:
            raise BomixError(f"unknown {what} {n!r}: choose from {known}")
    return list(names)


def policy_names() -> list[str]:
    """The policies ``bomix run policy=<name>`` accepts: the files in ``conf/policy/``."""
    from bomix.app import CONF_DIR

    return sorted(p.stem for p in (Path(CONF_DIR) / "policy").glob("*.yaml"))


def policy_overrides(label: str, variants: Mapping[str, Sequence[str]],
                     sizes: Mapping[str, Sequence[str]]) -> list[str]:
    """The ``bomix run`` overrides of a benchmark's policy label: ``policy=<label>`` and the benchmark's size
    overrides for it, or for a variant (``variants[label]``, starting with the ``policy=<base>`` it varies)
    the base's size overrides followed by the variant's own settings (so a variant wins over a size)."""
    if label not in variants:
        return [f"policy={label}", *sizes.get(label, [])]
    head, *rest = variants[label]
    return [head, *sizes.get(head.removeprefix("policy="), []), *rest]


def build_policy(overrides: Sequence[str], name: str | None = None):
    """The policy a ``bomix run`` with ``overrides`` would use (for scripts that drive campaigns in Python),
    named ``name`` when given (a variant's label)."""
    from bomix.app import compose, policy_of

    policy = policy_of(compose(list(overrides)))
    if name:
        policy.name = name
    return policy


def run_job(job: Job, threads: int | None = None) -> dict:
    """Run (or resume) one campaign; returns its labels, summary fields, wall time and torch thread count, or
    ``error`` (bad input: the policy does not apply to the problem) or ``crash`` (any other exception, with its
    type). ``threads``: the campaign's torch threads unless its overrides set ``threads`` (None: the config's,
    ``bomix run``'s default 2)."""
    import logging

    import torch

    from bomix.app import compose, run_from_config
    from bomix.errors import BomixError

    overrides = list(job.overrides)
    if threads is not None and not any(o.startswith("threads=") for o in overrides):
        overrides.append(f"threads={int(threads)}")  # an operational key: resuming at another count is allowed
    logging.getLogger("bomix").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    out: dict = dict(job.labels)
    try:
        s = run_from_config(compose(overrides), job.directory)
        out.update(regret=s.get("regret"), n_runs=s.get("n_runs"), budget_used=s.get("budget_used"))
    except BomixError as exc:  # a policy that does not apply to a problem (e.g. no per-domain losses)
        out["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug in one campaign must not stop the sweep; reported
        out["crash"] = f"{type(exc).__name__}: {exc}"
        logging.getLogger("bomix").exception("campaign %s crashed", job.directory)
    out["wall_s"] = time.perf_counter() - t0
    out["threads"] = torch.get_num_threads()
    return out


def run_jobs(jobs: Sequence[Job], n_jobs: int = 2) -> Iterator[dict]:
    """Run the jobs that are not done, ``n_jobs`` at a time; yields each result as it finishes. Parallel jobs run
    one torch thread each (``n_jobs`` processes on ``n_jobs`` cores, not oversubscribed); one job at a time runs
    in this process at the config's ``threads`` (default 2). A job's own ``threads=`` override wins either way."""
    todo = [j for j in jobs if not j.done]
    if n_jobs <= 1:
        for j in todo:
            yield run_job(j)
        return
    with ProcessPoolExecutor(max_workers=n_jobs, initializer=die_with_parent,
                             initargs=guard_args()) as ex:
        futs = [ex.submit(run_job, j, 1) for j in todo]
        for f in as_completed(futs):
            yield f.result()
