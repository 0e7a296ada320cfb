"""Loggers write what a campaign did, and the files read back: TensorBoard event files, an offline W&B run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.store import Store


def _store_facts(directory: Path):
    with Store(directory) as store:
        results, _, _ = store.load(store.get_meta("domains"))
        recs = store.to_pandas()["recommendations"]
    return results, recs


def test_tensorboard_event_files_hold_curves_and_progress(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from bomix.loggers.tensorboard import TensorBoardLogger

    logger = TensorBoardLogger(tmp_path / "tb")
    run_campaign(SyntheticBackend(k=3, noise=0.0), RandomPolicy(), budget=3, directory=tmp_path / "c", logger=logger)
    logger.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    results, recs = _store_facts(tmp_path / "c")
    first = results[0]
    metric = sorted(first.curve.metrics)[0]
    ev = acc.Scalars(f"run/{first.spec.run_id}/{metric}")
    assert [e.step for e in ev] == first.curve.steps.tolist()
    assert [e.value for e in ev] == pytest.approx(first.curve.metrics[metric].tolist(), rel=1e-6)
    used = acc.Scalars("campaign/budget_used")
    assert [e.step for e in used] == [1, 2, 3] and [e.value for e in used] == pytest.approx([1.0, 2.0, 3.0])
    regret = [e.value for e in acc.Scalars("campaign/regret")]
    assert regret == pytest.approx(recs["regret"].tolist()[-3:], rel=1e-6)
    assert "campaign/true_value" in tags


def test_cli_logger_group_is_off_by_default_and_writes_next_to_the_store(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    base = [sys.executable, "-m", "bomix.cli", "run", "backend=synthetic", "policy=random", "budget=2", "progress=false"]
    for name, extra in (("plain", []), ("tb", ["logger=tensorboard"])):
        p = subprocess.run(base + extra + [f"hydra.run.dir={tmp_path / name}"], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        json.loads(p.stdout)  # stdout stays the summary JSON
    assert not (tmp_path / "plain" / "tensorboard").exists()
    assert list((tmp_path / "tb" / "tensorboard").glob("events.out.tfevents.*"))
    # adding a logger to an existing campaign is not a different config: it resumes
    p = subprocess.run(base + ["logger=tensorboard", f"hydra.run.dir={tmp_path / 'plain'}"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]


def test_wandb_offline_run_reads_back(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from wandb_reader import history

    from bomix.loggers.wandb import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="bomix-test", dir=tmp_path / "wb")
    logger.config({"policy": "random"})
    run_campaign(SyntheticBackend(k=3, noise=0.0), RandomPolicy(), budget=2, directory=tmp_path / "c", logger=logger)
    logger.close()
    import wandb

    wandb.teardown()  # wandb-core may still be writing the offline file after finish(); teardown waits for it
    (run_file,) = (tmp_path / "wb" / "wandb").glob("offline-run-*/run-*.wandb")
    rows = history(run_file)
    results, _ = _store_facts(tmp_path / "c")
    used = [r["campaign/budget_used"] for r in rows if "campaign/budget_used" in r]
    assert used == [1, 2]
    first = results[0]
    metric = sorted(first.curve.metrics)[0]
    key = f"run/{first.spec.run_id}"
    pts = [(r[f"{key}/step"], r[f"{key}/{metric}"]) for r in rows if f"{key}/{metric}" in r]
    assert [s for s, _ in pts] == first.curve.steps.tolist()
    assert np.allclose([v for _, v in pts], first.curve.metrics[metric])


def test_bad_logger_settings_fail_in_one_line(tmp_path):
    from bomix.errors import BomixError
    from bomix.loggers.wandb import WandbLogger

    with pytest.raises(BomixError, match="logger.mode must be one of"):
        WandbLogger(mode="sometimes", dir=tmp_path)


def test_logger_folders_follow_the_campaign_without_hydra(tmp_path):
    """Composed without a Hydra run (notebooks, benchmark sweeps): a null log_dir becomes
    <campaign>/tensorboard, an explicit one is kept; the full config still resolves into the store."""
    pytest.importorskip("tensorboard")
    from bomix.app import compose, logger_kwargs, run_from_config

    over = ["backend=synthetic", "policy=random", "budget=2", "progress=false", "logger=tensorboard"]
    cfg = compose(over)
    assert logger_kwargs(cfg, tmp_path / "c") == {"log_dir": str(tmp_path / "c" / "tensorboard")}
    assert logger_kwargs(cfg, None) == {}
    run_from_config(cfg, tmp_path / "c")
    assert list((tmp_path / "c" / "tensorboard").glob("events.out.tfevents.*"))
    with Store(tmp_path / "c") as store:
        assert store.get_meta("full_config")["logger"]["log_dir"] is None
    mine = tmp_path / "mine"
    assert logger_kwargs(compose([*over, f"logger.log_dir={mine}"]), tmp_path / "c") == {}
    assert logger_kwargs(compose(["logger=wandb"]), tmp_path / "c") == {"dir": str(tmp_path / "c")}
