"""A Hydra sweeper whose jobs are the runs of a bomix study: any launcher trains them, bomix decides.

Each batch: ask the study for up to ``batch_size`` runs (stored and charged before launch), turn each
into overrides of your config, launch them with the configured launcher, tell each job's return value
(a float, or a dict of metrics). Runs left pending by a killed sweep are launched again first. The
study directory holds the same store and summary.json as ``bomix run``; ``bomix show DIR`` reads it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.bomix_sweeper.config import BomixSweeperConf  # noqa: F401 - registers hydra/sweeper=bomix

log = logging.getLogger("bomix.sweeper")


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """A BomixError (a bad setting or study state the user can fix) ends the sweep as ``bomix run`` does:
    one line on stderr, exit code 2, instead of Hydra's traceback."""
    from bomix.errors import BomixError

    try:
        yield
    except BomixError as exc:
        print(f"bomix: error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        sys.exit(2)


class BomixSweeper(Sweeper):
    """Hydra sweeper over a bomix :class:`bomix.study.Study` (arguments: see :class:`BomixSweeperConf`)."""

    def __init__(self, study_dir: str | None, domains: Sequence[str], ladder: Mapping[str, float],
                 steps: Sequence[int], objective: Any, policy: Any = "mfbo", budget: float = 1.0, seed: int = 0,
                 continuation: bool = False, batch_size: int = 1, keys: Mapping[str, Any] | None = None):
        with one_line_errors():
            self._init(study_dir, domains, ladder, steps, objective, policy, budget, seed, continuation, batch_size,
                       keys)

    def _init(self, study_dir, domains, ladder, steps, objective, policy, budget, seed, continuation, batch_size,
              keys) -> None:
        from bomix.errors import BomixError

        plain = lambda x: OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x  # noqa: E731
        self.study_args = dict(domains=list(plain(domains)), ladder=dict(plain(ladder)), steps=list(plain(steps)),
                               objective=plain(objective), policy=plain(policy), budget=float(budget), seed=int(seed),
                               continuation=bool(continuation))
        if int(batch_size) < 1:
            raise BomixError(f"hydra.sweeper.batch_size must be >= 1, got {batch_size}")
        if int(seed) < 0:
            raise BomixError(f"hydra.sweeper.seed must be an integer >= 0, got {seed}")
        self.study_dir, self.batch_size = study_dir, int(batch_size)
        self.keys = dict(plain(keys) or {})
        if "{domain}" not in str(self.keys.get("mixture", "")):
            raise BomixError("hydra.sweeper.keys.mixture must contain {domain}, e.g. data.weights.{domain}")
        self.config: DictConfig | None = None
        self.launcher = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)
        if self.study_dir is None:
            self.study_dir = str(config.hydra.sweep.dir)

    # ----- the loop --------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> dict:
        """Run the study to its end; returns the final recommendation (also in the study's summary.json)."""
        with one_line_errors():
            return self._sweep(arguments)

    def _sweep(self, arguments: list[str]) -> dict:
        from bomix.errors import BomixError
        from bomix.study import Study

        parsed = OverridesParser.create().parse_overrides(arguments)
        sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
        if sweeps:
            raise BomixError(f"hydra/sweeper=bomix chooses the runs itself: remove the sweep override(s) {sweeps}")
        study = Study.create(self.study_dir, exist_ok=True, **self.study_args)
        job_idx = 0
        try:
            retry = study.pending()  # launched by a killed sweep: run them again
            if retry:
                log.info("re-launching %d runs left pending in %s", len(retry), self.study_dir)
            while True:
                trials = retry[: self.batch_size]
                retry = retry[self.batch_size:]
                while len(trials) < self.batch_size:
                    t = study.ask(wait=False)
                    if t is None:
                        break
                    trials.append(t)
                if not trials:
                    break
                batch = [list(arguments) + self.overrides(t) for t in trials]
                self.validate_batch_is_legal(batch)
                returns = self.launcher.launch(batch, initial_job_idx=job_idx)
                job_idx += len(batch)
                for trial, ret in zip(trials, returns):
                    self._tell(study, trial, ret)
            rec = study.recommend()
        finally:
            study.close()
        log.info("bomix recommendation: %s", rec)
        return rec

    def overrides(self, trial) -> list[str]:
        """The trial as ``++key=value`` overrides of the user's config."""
        k = self.keys
        out = [f"++{k['mixture'].format(domain=d)}={w!r}" for d, w in trial.mixture.items()]
        for name, value in (("scale", trial.scale), ("params", trial.params), ("steps", trial.steps),
                            ("seed", trial.seed), ("run_id", trial.run_id), ("resume_from", trial.resume_from)):
            if k.get(name):
                out.append(f"++{k[name]}={'null' if value is None else value}")
        return out

    def _tell(self, study, trial, ret) -> None:
        if ret.status != JobStatus.COMPLETED:
            err = ret._return_value  # noqa: SLF001 - Hydra's JobReturn keeps the job's exception here
            study.tell(trial.run_id, status="failed", error=f"{type(err).__name__}: {err}"[:2000])
            return
        value = ret.return_value
        if isinstance(value, Mapping):
            study.tell(trial.run_id, metrics={str(m): float(v) for m, v in value.items()
                                              if m in study.problem.metrics})
        elif value is None:
            study.tell(trial.run_id, status="failed", error="the task function returned None: return the metric")
        else:
            study.tell(trial.run_id, value=float(value))
