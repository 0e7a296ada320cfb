"""A Hydra sweeper whose jobs are the runs of a bomix study: any launcher trains them, bomix decides.

Each batch: ask the study for up to ``batch_size`` runs (stored and charged before launch), turn each
into overrides of your config, launch them with the configured launcher, tell each job's return value
(a float, or a dict of metrics). Runs left pending by a killed sweep are launched again first. The
study directory holds the same store and summary.json as ``bomix run``; ``bomix show DIR`` reads it.

A key of ``keys`` that names a config group of the app (Hydra's config loader lists options for it, e.g.
``model`` or ``model/backbone``) is set by a group override, ``model=base`` (``+model=base`` when the group is
not in the app's defaults list), and the values bomix will give it are checked against the group's options
before anything runs; any other key gets ``++key=value``. Each job's folder is named by its run id
(``<sweep dir>/r00012``) unless the app sets ``hydra.sweep.subdir`` itself; a re-launched pending run
reuses its folder.
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
                 continuation: bool = False, batch_size: int = 1, keys: Mapping[str, Any] | None = None,
                 constraints: Any = None, phases: Any = None, objectives: Any = None, preference: Any = None):
        with one_line_errors():
            self._init(study_dir, domains, ladder, steps, objective, policy, budget, seed, continuation, batch_size,
                       keys, constraints, phases, objectives, preference)

    def _init(self, study_dir, domains, ladder, steps, objective, policy, budget, seed, continuation, batch_size,
              keys, constraints, phases=None, objectives=None, preference=None) -> None:
        from bomix.errors import BomixError

        plain = lambda x: OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x  # noqa: E731
        self.study_args = dict(domains=list(plain(domains)), ladder=dict(plain(ladder)), steps=list(plain(steps)),
                               objective=plain(objective), policy=plain(policy), budget=float(budget), seed=int(seed),
                               continuation=bool(continuation), constraints=plain(constraints),
                               phases=plain(phases), objectives=plain(objectives), preference=plain(preference))
        if int(batch_size) < 1:
            raise BomixError(f"hydra.sweeper.batch_size must be >= 1, got {batch_size}")
        if int(seed) < 0:
            raise BomixError(f"hydra.sweeper.seed must be an integer >= 0, got {seed}")
        self.study_dir, self.batch_size = study_dir, int(batch_size)
        self.keys = dict(plain(keys) or {})
        if "{domain}" not in str(self.keys.get("mixture", "")):
            raise BomixError("hydra.sweeper.keys.mixture must contain {domain}, e.g. data.weights.{domain}")
        if self.study_args["phases"] and "{phase}" not in str(self.keys.get("mixture", "")):
            raise BomixError("with hydra.sweeper.phases, keys.mixture must contain {phase} and {domain}, "
                             "e.g. data.phases.{phase}.weights.{domain}")
        self.config: DictConfig | None = None
        self.groups: dict[str, str] = {}  # key of self.keys -> override prefix: "" (in the defaults list) or "+"
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
        self.groups = self._config_groups(arguments)
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
            if study.problem.objectives:
                plot = study.pareto(plot=True)["plot"]
                log.info("bomix Pareto set: %d mixtures%s", len(rec["pareto"]["set"]), f" ({plot})" if plot else "")
        finally:
            study.close()
        log.info("bomix recommendation: %s", rec)
        return rec

    def overrides(self, trial) -> list[str]:
        """The trial as overrides of the user's config: ``group=option`` for a key naming a config group
        (``+group=option`` when the group is not in the defaults list), ``++key=value`` for any other key,
        and ``hydra.sweep.subdir=<run id>`` when the job folders are named by run id."""
        k = self.keys
        if trial.schedule is None:
            out = [f"++{k['mixture'].format(domain=d)}={w!r}" for d, w in trial.mixture.items()]
        else:  # one mixture per phase (and its first step)
            out = [f"++{k['mixture'].format(phase=p['phase'], domain=d)}={w!r}"
                   for p in trial.schedule for d, w in p["mixture"].items()]
            if k.get("phase_start"):
                out += [f"++{k['phase_start'].format(phase=p['phase'])}={p['start_step']}" for p in trial.schedule]
        for name, value in (("scale", trial.scale), ("params", trial.params), ("steps", trial.steps),
                            ("seed", trial.seed), ("run_id", trial.run_id), ("resume_from", trial.resume_from),
                            ("resume_step", trial.resume_step if trial.resume_from else None)):
            if k.get(name):
                prefix = self.groups.get(name, "++")
                out.append(f"{prefix}{k[name]}={'null' if value is None else value}")
        if self._subdir_by_run_id():
            out.append(f"hydra.sweep.subdir={trial.run_id}")
        return out

    def _subdir_by_run_id(self) -> bool:
        """Whether job folders are named by run id: the app left ``hydra.sweep.subdir`` at Hydra's default
        (the job number, which restarts at 0 on every invocation and so would mix runs of a resumed study)."""
        if self.config is None:
            return False
        sweep = OmegaConf.to_container(self.config.hydra.sweep, resolve=False)
        return sweep.get("subdir") in (None, "${hydra.job.num}")

    def _config_groups(self, arguments: list[str]) -> dict[str, str]:
        """Which of :attr:`keys` name a config group of the app: key name -> override prefix (``""`` when the
        group is in the defaults list, ``"+"`` when it is not); each value bomix will choose for it (ladder
        names for ``scale``, step counts for ``steps``) must be one of the group's options.

        Raises:
            BomixError: a chosen value is not an option of its group, or the command line sets the group.
        """
        from bomix.errors import BomixError

        if self.hydra_context is None or self.config is None:
            return {}
        from hydra.core.object_type import ObjectType

        loader = self.hydra_context.config_loader
        config_name = OmegaConf.select(self.config, "hydra.job.config_name", default=None)
        choices = OmegaConf.select(self.config, "hydra.runtime.choices", default=None) or {}
        known = {"scale": list(self.study_args["ladder"]), "steps": list(self.study_args["steps"])}
        given = {o.key_or_group for o in OverridesParser.create().parse_overrides(arguments)}
        out = {}
        for name, key in self.keys.items():
            if name in ("mixture", "phase_start") or not key:
                continue
            options = loader.get_group_options(str(key), results_filter=ObjectType.CONFIG,
                                               config_name=config_name, overrides=list(arguments))
            if not options:
                continue
            if str(key) in given:
                raise BomixError(f"the config group {key} is chosen by the sweeper (hydra.sweeper.keys.{name}): "
                                 f"remove {key}=... from the command line")
            missing = [str(v) for v in known.get(name, []) if str(v) not in options]
            if missing:
                verb = "is not one of its options" if len(missing) == 1 else "are not among its options"
                raise BomixError(f"hydra.sweeper.keys.{name}: {key} is a config group of your app, but {missing} "
                                 f"{verb} {options}: name the {'ladder' if name == 'scale' else name} after the "
                                 f"group's options or point keys.{name} at a config value (e.g. {key}.size)")
            out[name] = "" if str(key) in choices else "+"
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
