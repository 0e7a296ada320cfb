"""Hydra configs of the trainer: backend=trainer with problem=demo_cpu / gpu_ladder, executors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import bomix.app  # noqa: F401  (registers the resolvers the conf/ YAMLs use)
from bomix.config import instantiate

CONF = str(Path(__file__).resolve().parents[3] / "conf")


def _compose(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_problem_trainer_block_reaches_the_backend(tiny_data, tmp_path):
    cfg = _compose("backend=trainer", "problem=demo_cpu", f"backend.data_dir={tiny_data}",
                   f"backend.checkpoint_dir={tmp_path}", "backend.context=16")
    node = OmegaConf.to_container(cfg.backend, resolve=True)
    assert node["scales"] == ["0.2M", "0.5M", "1M"] and node["max_steps"] == 500 and node["eval_every"] == 50
    backend = instantiate(cfg.backend, "backend")
    assert backend.space.target.scale == "1M" and backend.space.step_grid == (100, 250, 500)
    backend.close()
    gpu = OmegaConf.to_container(_compose("backend=trainer", "problem=gpu_ladder", "backend.checkpoint_dir=x").backend,
                                 resolve=True)
    assert gpu["ladder"] == "gpu" and gpu["max_steps"] == 19500 and gpu["context"] == 1024


def test_defaults_without_problem_block():
    node = OmegaConf.to_container(_compose("backend=trainer", "backend.checkpoint_dir=x").backend, resolve=True)
    assert node["ladder"] == "cpu" and node["data_dir"] == "data/demo" and node["max_steps"] == 1000


@pytest.mark.parametrize("name", ["slurm", "ray"])
def test_executor_configs_build(name):
    pytest.importorskip("submitit" if name == "slurm" else "ray")
    ex = instantiate(_compose(f"executor={name}").executor, "executor")
    assert ex.name == name and ex.capacity >= 1


def test_checkpoints_follow_the_campaign_directory_with_or_without_hydra(tiny_data, tmp_path):
    """backend=trainer composes without a HydraConfig (bomix.app.compose, used by benchmarks); a
    null checkpoint_dir becomes <campaign>/checkpoints, an explicit one is kept. (Under `bomix run`, i.e.
    with a HydraConfig, test_cli_online checks <hydra.run.dir>/checkpoints/<run_id>.)"""
    from bomix.app import build
    from bomix.app import compose as app_compose

    over = ["backend=trainer", "problem=demo_cpu", f"backend.data_dir={tiny_data}", "policy=uniform"]
    cfg = app_compose(over)
    assert OmegaConf.to_container(cfg.backend, resolve=True)["checkpoint_dir"] is None
    backend = build(cfg, tmp_path / "camp")[0]
    assert backend.checkpoint_dir == str((tmp_path / "camp" / "checkpoints").resolve())
    backend.close()
    backend = build(app_compose([*over, f"backend.checkpoint_dir={tmp_path / 'mine'}"]), tmp_path / "camp")[0]
    assert backend.checkpoint_dir == str((tmp_path / "mine").resolve())
    backend.close()
    backend = build(cfg)[0]  # no campaign: the backend's own temporary folder, removed on close
    tmp = Path(backend.checkpoint_dir)
    assert tmp.is_dir() and "camp" not in tmp.parts
    backend.close()
    assert not tmp.exists()
