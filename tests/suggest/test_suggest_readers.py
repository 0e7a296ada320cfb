"""Each reader of `bomix suggest` on a small file in its format: the same runs in every format give the same
long table, and the same recommendation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from swarm_files import DOMAINS, N_RUNS, losses, mixtures, write_long, write_olmix, write_regmix, write_wandb
from bomix.cli import main
from bomix.space import Fidelity
from bomix.suggest import WandbColumns, read_runs

ROOT = Path(__file__).resolve().parents[2]
SHARED_REGMIX = ROOT.parent / "shared" / "data" / "regmix"


def final(swarm) -> pd.DataFrame:
    """One row per run in file order: the weights and the metrics."""
    t = swarm.runs.table.set_index("run_id").loc[swarm.order]
    return t[[*swarm.runs.w_cols, *swarm.runs.m_cols]]


def test_long_reader(tmp_path):
    swarm = read_runs(write_long(tmp_path))
    assert swarm.format == "long" and swarm.runs.domains == DOMAINS and swarm.runs.metrics == ("loss", "acc")
    assert swarm.order == [f"r{i}" for i in range(N_RUNS)] and swarm.runs.scales == {"20M": 2e7}
    np.testing.assert_allclose(final(swarm)[swarm.runs.w_cols].to_numpy(), mixtures())


def test_regmix_reader_knows_regmix_files_by_name(tmp_path):
    swarm = read_runs(write_regmix(tmp_path))
    assert swarm.format == "regmix" and swarm.runs.domains == DOMAINS and swarm.runs.metrics == ("loss", "acc")
    assert swarm.order == [f"1M-train-{i}" for i in range(1, N_RUNS + 1)]
    assert swarm.runs.scales == {"1M": 1e6} and set(swarm.runs.table["step"]) == {1000}  # RegMix's own fidelity
    np.testing.assert_allclose(final(swarm)["m:loss"].to_numpy(), losses(mixtures())["loss"])


def test_regmix_reader_other_names_take_the_given_fidelity(tmp_path):
    path = write_regmix(tmp_path, mixture="my_mixture.csv", loss="my_pile_loss.csv")
    swarm = read_runs(path, fidelity=Fidelity("30M", 5000), params=3e7)
    assert swarm.runs.scales == {"30M": 3e7} and set(swarm.runs.table["step"]) == {5000}
    assert swarm.order[0] == "my_mixture-1"


def test_regmix_reader_reads_a_folder_of_pairs(tmp_path):
    write_regmix(tmp_path)
    write_regmix(tmp_path, mixture="test_mixture_60m.csv", loss="test_pile_loss_60m.csv")
    swarm = read_runs(tmp_path)
    assert swarm.format == "regmix" and swarm.runs.scales == {"1M": 1e6, "60M": 6e7}
    assert len(swarm.order) == 2 * N_RUNS


@pytest.mark.skipif(not (SHARED_REGMIX / "train_mixture_1m.csv").is_file(), reason="needs ../shared/data/regmix")
def test_regmix_reader_matches_the_shipped_conversion():
    """RegMix's own 512 1M training runs read from its CSVs = the same runs of the shipped long table."""
    ours = read_runs(SHARED_REGMIX / "train_mixture_1m.csv")
    shipped = read_runs(ROOT / "simulator" / "regmix" / "regmix.csv", runs="1M-train-*")
    assert ours.order == shipped.order and len(ours.order) == 512
    pd.testing.assert_frame_equal(final(ours), final(shipped), check_exact=False, rtol=1e-9)


def test_olmix_reader(tmp_path):
    folder = write_olmix(tmp_path)
    for path in (folder, folder / "ratios.csv", folder / "metrics.csv"):
        swarm = read_runs(path)
        assert swarm.format == "olmix" and swarm.runs.domains == DOMAINS and swarm.runs.metrics == ("loss", "acc")
        assert swarm.order == [f"run-{i}" for i in range(N_RUNS)] and swarm.runs.scales == {"proxy": 1.0}
    np.testing.assert_allclose(final(swarm)["m:acc"].to_numpy(), losses(mixtures())["acc"])


def test_olmix_runs_without_metrics_are_left_out_with_a_note(tmp_path):
    folder = write_olmix(tmp_path)
    m = pd.read_csv(folder / "metrics.csv")
    m.iloc[:-2].to_csv(folder / "metrics.csv", index=False)
    swarm = read_runs(folder, fidelity=Fidelity("60M", 2000), params=6e7)
    assert len(swarm.order) == N_RUNS - 2 and swarm.runs.scales == {"60M": 6e7}
    assert swarm.notes == ["2 run(s) of ratios.csv have no metrics (not finished?): left out"]


def test_wandb_reader_default_mapping(tmp_path):
    swarm = read_runs(write_wandb(tmp_path), metrics=["val/loss"])
    assert swarm.format == "wandb" and swarm.runs.domains == DOMAINS and swarm.runs.metrics == ("val/loss",)
    assert swarm.order == [f"run-{i}" for i in range(N_RUNS)]  # Name; State, Runtime, optimizer, lr are not metrics
    np.testing.assert_allclose(final(swarm)["m:val/loss"].to_numpy(), losses(mixtures())["loss"])


def test_wandb_reader_mapped_columns(tmp_path):
    path = write_wandb(tmp_path, prefix="weights/")
    df = pd.read_csv(path)
    df["ID"], df["model.params"], df["trainer.steps"] = [f"id{i}" for i in range(N_RUNS)], 2e7, 4000
    df.loc[:5, "model.params"] = 6e7
    df.to_csv(path, index=False)
    cols = WandbColumns.parse(["run=ID", "metrics=val/", "params=model.params", "steps=trainer.steps"])
    swarm = read_runs(path, columns=cols)
    assert swarm.runs.metrics == ("val/loss", "val/acc") and swarm.order[0] == "id0"
    assert swarm.runs.scales == {"20M": 2e7, "60M": 6e7} and set(swarm.runs.table["step"]) == {4000}


def test_domains_fix_the_order(tmp_path):
    swarm = read_runs(write_long(tmp_path), domains=["books", "web", "code"])
    assert swarm.runs.domains == ("books", "web", "code")


def test_every_format_gives_the_same_recommendation(tmp_path, capsys):
    """The four files hold the same runs: the same method and seed recommend the same mixture from each."""
    paths = {"long": write_long(tmp_path / "long"), "regmix": write_regmix(tmp_path / "regmix"),
             "olmix": write_olmix(tmp_path / "olmix"), "wandb": write_wandb(tmp_path / "wandb")}
    objective = {"wandb": "val/loss"}
    answers = {}
    for fmt, path in paths.items():
        rc = main(["suggest", str(path), "--method", "regmix_linear", "--option", f"n_runs={N_RUNS}",
                   "--option", "n_samples=3000",
                   "--objective", objective.get(fmt, "loss"), "--json"])
        out = json.loads(capsys.readouterr().out)
        assert rc == 0 and out["format"] == fmt and out["n_runs"] == N_RUNS
        answers[fmt] = out["recommendation"]
    assert all(a == answers["long"] for a in answers.values()), answers
    assert max(answers["long"], key=answers["long"].get) == "web"  # the linear law's vertex nearest the optimum


@pytest.fixture
def tmp_path(tmp_path_factory, request):
    """Each test's own folder, with the sub-folders the writers expect."""
    base = tmp_path_factory.mktemp(request.node.name[:30])
    for sub in ("long", "regmix", "olmix", "wandb"):
        (base / sub).mkdir()
    return base
