"""``bomix run``: the Hydra app over ``conf/`` that runs (or resumes) one campaign per job.

Everything is validated (every component built, the policy bound to the problem) before anything is
written; a campaign directory that Hydra created for a job that then failed validation is removed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bomix.config import GROUPS, OPERATIONAL_KEYS, register_resolvers
from bomix.errors import BomixError
from bomix.paths import conf_dir

CONF_DIR = str(conf_dir())
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class RunSettings:
    """The validated top-level options of ``conf/config.yaml`` (meanings: ``bomix run --help``)."""

    seed: int
    budget: float
    batch_size: int
    max_runs: int | None
    stop_regret: float | None
    max_wall_time: float | None
    force: bool
    progress: bool | None
    log_level: str
    threads: int | None


def _number(cfg: Any, key: str, kind: type, *, minimum: float, strict: bool, optional: bool) -> Any:
    v = cfg.get(key)
    if v is None and optional:
        return None
    bad = isinstance(v, bool) or not isinstance(v, (int, float, str))
    try:
        x = None if bad else kind(v) if kind is float else int(str(v)) if isinstance(v, str) else v
    except ValueError:
        x = None
    if kind is int and isinstance(x, float):
        x = int(x) if float(x).is_integer() else None
    ok = x is not None and math.isfinite(x) and (x > minimum if strict else x >= minimum)
    if not ok:
        rel = ">" if strict else ">="
        what = "an integer" if kind is int else "a finite number"
        hint = " or null" if optional else ""
        raise BomixError(f"{key} must be {what} {rel} {minimum:g}{hint}, got {v!r}: set {key}=...")
    return x


def _flag(cfg: Any, key: str, optional: bool = False) -> bool | None:
    v = cfg.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, bool):
        raise BomixError(f"{key} must be true or false{' or null' if optional else ''}, got {v!r}")
    return v


def settings(cfg: DictConfig | dict) -> RunSettings:
    """Check the top-level options; a bad one is a one-line BomixError naming it."""
    level = str(cfg.get("log_level", "WARNING")).upper()
    if level not in LOG_LEVELS:
        raise BomixError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {cfg.get('log_level')!r}")
    return RunSettings(
        seed=_number(cfg, "seed", int, minimum=0, strict=False, optional=False),
        budget=_number(cfg, "budget", float, minimum=0, strict=True, optional=False),
        batch_size=_number(cfg, "batch_size", int, minimum=1, strict=False, optional=False),
        max_runs=_number(cfg, "max_runs", int, minimum=1, strict=False, optional=True),
        stop_regret=_number(cfg, "stop_regret", float, minimum=0, strict=False, optional=True),
        max_wall_time=_number(cfg, "max_wall_time", float, minimum=0, strict=True, optional=True),
        force=bool(_flag(cfg, "force")),
        progress=_flag(cfg, "progress", optional=True),
        log_level=level,
        threads=_number(cfg, "threads", int, minimum=1, strict=False, optional=True),
    )


def _problem_config(cfg: DictConfig):
    from bomix.campaign import ProblemConfig

    p = _plain(cfg.get("problem")) or {}
    fields = {k: v for k, v in p.items() if k not in ("name", "trainer", "synthetic")}
    try:
        return ProblemConfig(**fields)
    except TypeError as exc:
        raise BomixError(f"bad problem key: {exc}: the problem takes objective, lower, upper, max_epochs, tokens, "
                         "constraints, phases, objectives, preference") from None


def backend_kwargs(cfg: DictConfig, directory: str | Path | None) -> dict:
    """Arguments the campaign directory decides: a backend with a ``checkpoint_dir`` key left null keeps
    its run checkpoints in ``<directory>/checkpoints`` (:class:`bomix.layout.CampaignLayout`), with or
    without a Hydra run around the config (``bomix run``, ``bomix.bench.sweep``)."""
    return _placed(cfg.get("backend"), directory, {"checkpoint_dir": lambda lay: lay.checkpoints})


def logger_kwargs(cfg: DictConfig, directory: str | Path | None) -> dict:
    """The same for a logger: a null ``log_dir`` (TensorBoard) becomes ``<directory>/tensorboard``, a null
    ``dir`` (W&B) the campaign directory itself."""
    return _placed(cfg.get("logger"), directory, {"log_dir": lambda lay: lay.tensorboard,
                                                  "dir": lambda lay: lay.directory})


def _placed(node, directory: str | Path | None, where: dict) -> dict:
    """``{key: str(path)}`` for each key of ``where`` that ``node`` has and leaves null (``where[key]`` maps the
    campaign's :class:`bomix.layout.CampaignLayout` to the path); nothing without a campaign directory."""
    if directory is None or node is None:
        return {}
    from bomix.layout import CampaignLayout

    lay = CampaignLayout(directory)
    return {k: str(path(lay)) for k, path in where.items() if k in node and node.get(k) is None}


def policy_of(cfg: DictConfig):
    """The config's policy, named by its ``name`` key (else the class's own name)."""
    from bomix.config import instantiate

    policy = instantiate(cfg.policy, "policy")
    policy.name = cfg.policy.get("name", getattr(policy, "name", "policy"))
    return policy


def build(cfg: DictConfig, directory: str | Path | None = None) -> tuple[Any, Any, Any, Any, RunSettings]:
    """Build and cross-check every component (nothing is written): backend, policy, executor, problem.

    ``directory``: the campaign directory (it places a trainer's checkpoints, :func:`backend_kwargs`);
    None = the backend's own default (a temporary folder for the trainer)."""
    from bomix.campaign import build_problem
    from bomix.campaign.problem import phased_backend
    from bomix.config import instantiate

    run = settings(cfg)
    backend = instantiate(cfg.backend, "backend", **backend_kwargs(cfg, directory))
    try:
        policy = policy_of(cfg)
        executor = instantiate(cfg.executor, "executor")
        problem_cfg = _problem_config(cfg)
        backend = phased_backend(backend, problem_cfg)
        try:
            policy.bind(build_problem(backend, problem_cfg), run.seed)
        except (ValueError, TypeError, KeyError) as exc:  # a config value of the wrong shape (e.g. mixture=abc)
            raise BomixError(f"policy {policy.name} does not fit the problem: {type(exc).__name__}: {exc}") from None
    except BaseException:
        backend.close()
        raise
    return backend, policy, executor, problem_cfg, run


def run_from_config(cfg: DictConfig, directory: str | Path) -> dict:
    """Build backend, policy, executor and problem from ``cfg`` and run the campaign in ``directory``."""
    from bomix.campaign import Campaign
    from bomix.config import fingerprint

    check_not_a_study(directory)
    backend, policy, executor, problem_cfg, run = build(cfg, directory)
    if run.threads is not None:  # before the first fit: a campaign is a function of its config at a fixed count
        import torch

        torch.set_num_threads(run.threads)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        backend.close()
        raise BomixError(f"campaign directory {directory} is a file: choose another hydra.run.dir")
    progress = run.progress if run.progress is not None else sys.stderr.isatty()
    try:
        camp = Campaign(
            backend, policy, budget=run.budget, seed=run.seed, directory=directory, problem=problem_cfg,
            executor=executor, batch_size=run.batch_size, max_runs=run.max_runs, stop_regret=run.stop_regret,
            max_wall_time=run.max_wall_time, config=fingerprint(cfg), force=run.force, progress=progress,
            warm_start=_plain(cfg.get("warm_start")))
    except BaseException:
        backend.close()
        raise
    try:
        full = OmegaConf.to_container(cfg, resolve=True)
        camp.store.set_meta(full_config=full)
        if cfg.get("logger"):  # made once the directory is known to be this campaign's
            from bomix.config import instantiate

            camp.logger = instantiate(cfg.logger, "logger", **logger_kwargs(cfg, directory))
            camp.logger.config(full)
        return camp.run()
    finally:
        camp.logger.close()
        camp.close()
        backend.close()


def check_not_a_study(directory: str | Path) -> None:
    """Refuse a directory that holds an ask/tell study (its store keeps meta ``study``), force or not:
    a campaign resumed there would mix its runs into the study's."""
    from bomix.layout import CampaignLayout
    from bomix.store import StoreReader

    if not CampaignLayout(directory).store.is_file():
        return
    try:
        with StoreReader(directory) as store:
            study = store.get_meta("study")
    except BomixError:  # not a readable store: the campaign reports it (or moves it aside with force=true)
        return
    if study is not None:
        raise BomixError(f"{directory} is a study (made by bomix ask/Study); use bomix ask/tell/show on it, "
                         "or choose another hydra.run.dir")


#: attribute set on an exception that the task (not Hydra) raised
TASK_MARK = "_bomix_from_task"


def run_directory_error(exc: OSError, multirun: bool) -> str | None:
    """One line for an OSError Hydra raised making (or writing in) the run or sweep directory; None for
    one the task raised (:func:`hydra_main` marks those), or one that is not about a path it could not write."""
    from bomix.errors import unwritable

    if getattr(exc, TASK_MARK, False):
        return None
    return unwritable(exc, "hydra.sweep.dir" if multirun else "hydra.run.dir")


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The ``bomix run`` config for ``overrides`` (for notebooks, tests and benchmark sweeps)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return hydra_compose("config", list(overrides))


def _plain(x):
    return OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x


# ----- directories Hydra creates before the task runs -----------------------------------------------
_EXISTING: list[Path] = []


class DirectoryGuard(Callback):
    """Hydra callback: remembers which part of the run/sweep directory existed before Hydra made it,
    so that a job failing validation leaves no empty campaign directory behind."""

    def on_run_start(self, config: DictConfig, **kw: Any) -> None:
        _EXISTING[:] = [_first_existing(Path(str(config.hydra.run.dir)))]

    def on_multirun_start(self, config: DictConfig, **kw: Any) -> None:
        _EXISTING[:] = [_first_existing(Path(str(config.hydra.sweep.dir)))]


def _first_existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _remove_created(directory: Path) -> None:
    """Remove ``directory`` and its parents that did not exist before this run, if they are empty."""
    if not _EXISTING:
        return
    keep = _EXISTING[0]
    p = directory.absolute()
    while p != keep and keep in p.parents and p.is_dir() and not any(p.iterdir()):
        p.rmdir()
        p = p.parent


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra task: one campaign in Hydra's run directory; prints its summary (:func:`print_summary`)."""
    logging.getLogger("bomix").setLevel(str(cfg.get("log_level", "WARNING")).upper()
                                        if str(cfg.get("log_level", "")).upper() in LOG_LEVELS else "WARNING")
    directory = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run_from_config(cfg, directory)
    except BomixError as exc:  # one line, exit 2 (not Hydra's "Error executing job" report)
        _remove_created(directory)
        print(f"bomix: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
    except BaseException as exc:
        _remove_created(directory)
        try:
            setattr(exc, TASK_MARK, True)  # raised by the task, not by Hydra around it (see run_directory_error)
        except AttributeError:
            pass
        raise
    print_summary(summary)


def print_summary(summary: dict) -> None:
    """The end of a ``bomix run`` job: the summary as one JSON line on stdout (for scripts: ``| jq .regret``;
    a sweep's stdout is one line per job), and the same summary for a person on stderr
    (:func:`bomix.summary_text.format_summary`), where the log lines go. A reader gone from stdout
    (``| head -c 10``) ends the output quietly: the campaign is already stored."""
    from bomix.summary_text import format_summary

    try:
        print(json.dumps(summary), flush=True)
    except BrokenPipeError:
        from bomix.cli import _silence_stdout

        _silence_stdout()
    print(format_summary(summary), file=sys.stderr, flush=True)


# ----- bomix run --help ---------------------------------------------------------------------------
def _first_comment(path: Path, width: int = 96) -> str:
    """The first sentence of a config file's header comment, at most ``width`` characters."""
    words: list[str] = []
    for line in path.read_text().splitlines():
        st = line.strip()
        if not st.startswith("#"):
            break
        if not st.startswith("# @package"):
            words += st.lstrip("#").split()
    text = " ".join(words)
    m = re.search(r"(?<!\bal)\.(\s+[A-Z(`]|$)", text)  # the first sentence ("et al. 2025" is not an end)
    text = text[: m.start() + 1] if m else text
    return text if len(text) <= width else text[: width - 3].rsplit(" ", 1)[0] + "..."


def run_help(*_: Any) -> str:
    """The text of ``bomix run --help``: groups with their choices, and each top-level option."""
    import yaml

    conf = Path(CONF_DIR)
    text = (conf / "config.yaml").read_text()
    top = yaml.safe_load(text)
    chosen = {}
    for d in top.get("defaults", []):
        if isinstance(d, dict):
            for k, v in d.items():
                if k in GROUPS + ("logger",):
                    chosen[k] = v
    lines = [
        "bomix run: run or resume one campaign (a sweep of campaigns with -m).",
        "",
        "usage: bomix run [GROUP=OPTION ...] [KEY=VALUE ...]        one campaign",
        "       bomix run -m KEY=A,B ...                            a sweep, one campaign directory per job",
        "       bomix run ... --cfg job                             print the composed config, run nothing",
        "",
        "Re-running the same command resumes its campaign directory. Keys that do not change results",
        f"may differ between a run and its resumption: {', '.join(OPERATIONAL_KEYS)}.",
        "",
        "Config groups (GROUP=OPTION; the default is marked *):",
    ]
    for group in ("experiment",) + GROUPS + ("logger",):  # logger: display only, not a results-defining group
        files = sorted((conf / group).glob("*.yaml"))
        if not files:
            continue
        prefix = "+" if group == "experiment" else ""
        lines.append(f"  {prefix}{group}=")
        for f in files:
            mark = "*" if chosen.get(group) == f.stem else " "
            lines.append(f"    {mark} {f.stem:<20} {_first_comment(f)}".rstrip())
    lines += ["", "Options (KEY=VALUE; default in brackets):"]
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+):\s*([^#]*?)\s*#\s*(.*)$", line)
        if m and m.group(1) not in ("defaults", "hydra"):
            lines.append(f"  {m.group(1):<14} [{m.group(2)}] {m.group(3)}")
    lines += [
        "",
        "Every constructor argument of the chosen components is a typed key as well, with its Python default:",
        "  bomix run policy=mfbo policy.rec_kappa=0.5 policy.gp.maxiter=40 ...   (list: bomix run policy=mfbo --cfg job)",
        "",
        "Hydra flags:",
    ]
    return "\n".join(lines)


register_resolvers()
if not OmegaConf.has_resolver("bomix.run_help"):
    OmegaConf.register_new_resolver("bomix.run_help", run_help)
