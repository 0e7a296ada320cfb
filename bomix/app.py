"""``bomix run``: the Hydra app over ``conf/`` that runs (or resumes) one campaign per job."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from bomix.errors import BomixError
from bomix.paths import conf_dir

CONF_DIR = str(conf_dir())


def run_from_config(cfg: DictConfig, directory: str | Path) -> dict:
    """Build backend, policy, executor and problem from ``cfg`` and run the campaign in ``directory``."""
    from bomix.campaign import Campaign, ProblemConfig
    from bomix.config import fingerprint, instantiate

    backend = instantiate(cfg.backend, "backend")
    policy = instantiate(cfg.policy, "policy")
    policy.name = cfg.policy.get("name", getattr(policy, "name", "policy"))
    executor = instantiate(cfg.executor, "executor")
    p = cfg.get("problem") or {}
    problem = ProblemConfig(
        objective=_plain(p.get("objective")), lower=_plain(p.get("lower")), upper=_plain(p.get("upper")),
        max_epochs=p.get("max_epochs"), tokens=_plain(p.get("tokens")))
    camp = Campaign(
        backend, policy, budget=cfg.budget, seed=cfg.seed, directory=directory, problem=problem,
        executor=executor, batch_size=cfg.batch_size, max_runs=cfg.get("max_runs"),
        stop_regret=cfg.get("stop_regret"), max_wall_time=cfg.get("max_wall_time"),
        config=fingerprint(cfg), force=bool(cfg.get("force", False)), progress=bool(cfg.get("progress", True)))
    try:
        full = OmegaConf.to_container(cfg, resolve=True)
        camp.store.set_meta(full_config=full)
        if cfg.get("logger"):  # made once the directory is known to be this campaign's
            camp.logger = instantiate(cfg.logger, "logger")
            camp.logger.config(full)
        return camp.run()
    finally:
        camp.logger.close()
        camp.close()
        backend.close()


def _plain(x):
    return OmegaConf.to_container(x, resolve=True) if OmegaConf.is_config(x) else x


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    """Hydra task: one campaign in Hydra's run directory; prints its summary as JSON."""
    logging.getLogger("bomix").setLevel(cfg.get("log_level", "INFO"))
    try:
        summary = run_from_config(cfg, HydraConfig.get().runtime.output_dir)
    except BomixError as exc:
        print(f"bomix: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary, indent=2))
