"""The logged-run table format (bomix.runtable; tested here because it uses the synthetic-log fixtures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bomix.runtable import load, validate
from bomix.errors import BomixError


def test_valid_table_loads(table):
    runs = validate(table)
    assert runs.domains == ("d0", "d1", "d2", "d3")
    assert "loss:target" in runs.metrics
    assert runs.scales == {"20M": 20e6, "150M": 150e6, "1B": 1e9}
    info = runs.runs()
    assert len(info) == 80 and set(info["n_rows"]) == {4}
    np.testing.assert_allclose(runs.weights().sum(1), 1.0, atol=1e-12)


def test_final_only_runs_and_rounded_weights_are_accepted():
    df = pd.DataFrame({"run_id": ["a", "b"], "scale": ["s", "s"], "params": [1e6, 1e6], "step": [100, 100],
                       "w:x": [0.301, 0.5], "w:y": [0.7, 0.5], "m:loss": [3.0, np.nan]})
    runs = validate(df)
    np.testing.assert_allclose(runs.weights().sum(1), 1.0)
    assert runs.runs()["n_rows"].tolist() == [1, 1]


def _mutate(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    t = table.copy()
    if kind == "missing column":
        return t.drop(columns=["params"])
    if kind == "weights not summing to 1":
        t.loc[3, "w:d0"] += 0.5
    elif kind == "two mixtures in a run":
        t.loc[1, "w:d0"] += 0.001
        t.loc[1, "w:d1"] -= 0.001
    elif kind == "NaN step":
        t["step"] = t["step"].astype(float)
        t.loc[5, "step"] = np.nan
    elif kind == "fractional step":
        t["step"] = t["step"].astype(float)
        t.loc[5, "step"] = 2.5
    elif kind == "duplicate step":
        t.loc[1, "step"] = t.loc[0, "step"]
    elif kind == "negative weight":
        t.loc[2, "w:d0"], t.loc[2, "w:d1"] = -0.1, t.loc[2, "w:d1"] + t.loc[2, "w:d0"] + 0.1
    elif kind == "no metrics":
        return t[[c for c in t.columns if not c.startswith("m:")]]
    elif kind == "text in a metric":
        t["m:loss:target"] = t["m:loss:target"].astype(object)
        t.loc[0, "m:loss:target"] = "oops"
    elif kind == "scale with two sizes":
        t.loc[0:3, "params"] = 21e6
    elif kind == "unknown column":
        t["loss"] = 1.0
    return t


KINDS = ["missing column", "weights not summing to 1", "two mixtures in a run", "NaN step", "fractional step",
         "duplicate step", "negative weight", "no metrics", "text in a metric", "scale with two sizes",
         "unknown column"]


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_tables_fail_with_one_line(table, kind):
    with pytest.raises(BomixError) as exc:
        validate(_mutate(table, kind))
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 300


def test_error_messages_name_the_problem(table):
    with pytest.raises(BomixError, match="missing column"):
        validate(_mutate(table, "missing column"))
    with pytest.raises(BomixError, match="sum to"):
        validate(_mutate(table, "weights not summing to 1"))
    with pytest.raises(BomixError, match="two mixtures"):
        validate(_mutate(table, "two mixtures in a run"))
    with pytest.raises(BomixError, match="step"):
        validate(_mutate(table, "NaN step"))


def test_load_reads_csv_and_parquet(table, tmp_path):
    table.to_parquet(tmp_path / "t.parquet")
    assert load(tmp_path / "t.parquet").scales == load_csv(table, tmp_path).scales
    with pytest.raises(BomixError, match="not found"):
        load(tmp_path / "nope.csv")


def load_csv(table, tmp_path):
    table.to_csv(tmp_path / "t.csv", index=False)
    return load(tmp_path / "t.csv")


def _bomix() -> list[str]:
    exe = Path(sys.executable).with_name("bomix")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bomix.cli"]


@pytest.mark.parametrize("kind", ["weights not summing to 1", "two mixtures in a run"])
def test_cli_rejects_bad_table_with_one_stderr_line(table, tmp_path, kind):
    bad = tmp_path / "bad.csv"
    _mutate(table, kind).to_csv(bad, index=False)
    res = subprocess.run([*_bomix(), "simulator", "build", str(bad), "--out", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bomix: error:")
    assert not (tmp_path / "d" / "simulator.json").exists()


def test_cli_bad_arguments_one_line(tmp_path):
    res = subprocess.run([*_bomix(), "simulator", "build", "x.csv", "--mode", "magic", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_cli_builds_a_pool_simulator(table_csv, tmp_path):
    out = tmp_path / "sim"
    res = subprocess.run([*_bomix(), "simulator", "build", table_csv, "--out", str(out), "--mode", "pool",
                          "--objective", "loss:target", "--target-scale", "150M"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    meta = json.loads((out / "simulator.json").read_text())
    assert meta["mode"] == "pool" and meta["target"] == {"scale": "150M", "steps": 20000}
    assert (out / "report.md").is_file() and (out / "runs.csv").is_file()


def test_column_helpers_are_the_one_convention(table):
    from bomix.runtable import domains_of, empty, mcol, metric_dict, metrics_of, wcol, wcols

    assert wcol("web") == "w:web" and mcol("loss:web") == "m:loss:web"
    doms = domains_of(table.columns)
    assert wcols(doms) == [c for c in table.columns if c.startswith("w:")]
    assert set(metric_dict(table)) == set(metrics_of(table.columns)) and "loss:target" in metrics_of(table.columns)
    assert list(empty(doms).columns) == ["run_id", "scale", "params", "step", *wcols(doms)]
    assert validate(table).domains == tuple(doms)  # History.table() output is a valid logged-run table
