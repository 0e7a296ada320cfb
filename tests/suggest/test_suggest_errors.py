"""`bomix suggest` refuses every malformed file or option with one line on stderr and exit status 2 (the CLI
convention of tests/test_cli_errors.py), saying what is wrong and how to fix it; nothing read is executed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from swarm_files import write_long, write_olmix, write_regmix, write_wandb
from bomix.cli import main

ROOT = Path(__file__).resolve().parents[2]


def edit(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Path:
    """Rewrite the CSV ``path`` through ``change`` (which edits the frame in place or returns a new one)."""
    df = pd.read_csv(path, dtype=object)
    out = change(df)
    (df if out is None else out).to_csv(path, index=False)
    return path


def set_cell(col: str, row: int, value) -> Callable[[pd.DataFrame], None]:
    def change(df: pd.DataFrame) -> None:
        df.loc[row, col] = value
    return change


def long(change=None) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        path = write_long(tmp)
        if change:
            edit(path, change)
        return [str(path), "--objective", "loss"]
    return make


def regmix(which: str = "mix", change=None, drop_loss: bool = False) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        path = write_regmix(tmp)
        loss = tmp / "train_pile_loss_1m.csv"
        if change:
            edit(path if which == "mix" else loss, change)
        if drop_loss:
            loss.unlink()
        return [str(path), "--objective", "loss"]
    return make


def olmix(which: str = "ratios.csv", change=None, drop: str | None = None) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        folder = write_olmix(tmp)
        if change:
            edit(folder / which, change)
        if drop:
            (folder / drop).unlink()
        return [str(folder), "--format", "olmix", "--objective", "loss"]
    return make


def wandb(change=None, args=("--objective", "val/loss"), prefix: str = "mix.") -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        path = write_wandb(tmp, prefix=prefix)
        if change:
            edit(path, change)
        return [str(path), *args]
    return make


def with_args(make: Callable[[Path], list[str]], *args: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [*make(tmp), *args]


CASES = {
    # the long format (its checks are bomix.runtable's)
    "long: missing column": (long(lambda df: df.drop(columns=["step"])), "missing column(s) ['step']"),
    "long: weights not summing to 1": (long(set_cell("w:web", 0, "0.9")), "sum to"),
    "long: non-numeric metric": (long(set_cell("m:loss", 3, "abc")), "m:loss has a non-number 'abc'"),
    "long: no runs": (long(lambda df: df.iloc[:0]), "has no rows"),
    # RegMix
    "regmix: no loss file": (regmix(drop_loss=True), "has no loss file train_pile_loss_1m.csv beside it"),
    "regmix: weights not summing to 1": (regmix(change=set_cell("train_the_pile_web", 2, "0.9")),
                                         "the weights of run '3' (row 4) sum to"),
    "regmix: non-numeric metric": (regmix("loss", set_cell("metric/the_pile_loss_val_loss", 1, "oom")),
                                   "metric column 'metric/the_pile_loss_val_loss' has a non-number 'oom'"),
    "regmix: index mismatch": (regmix("loss", lambda df: df.iloc[::-1]), "do not list the same index values"),
    "regmix: missing index column": (regmix("loss", lambda df: df.drop(columns=["index"])),
                                     "missing column 'index'"),
    "regmix: no runs": (regmix(change=lambda df: df.iloc[:0]), "has no runs"),
    # Olmix
    "olmix: no metrics.csv": (olmix(drop="metrics.csv"), "has no metrics.csv"),
    "olmix: missing run_id": (olmix("metrics.csv", lambda df: df.drop(columns=["run_id"])), "missing column 'run_id'"),
    "olmix: weights not summing to 1": (olmix(change=set_cell("code", 0, "0.7")), "run 'run-0' (row 2) sum to"),
    "olmix: non-numeric metric": (olmix("metrics.csv", set_cell("loss", 0, "nan%")), "non-number 'nan%'"),
    "olmix: metrics of an unknown run": (olmix("metrics.csv", set_cell("run_id", 0, "ghost")),
                                         "run(s) ['ghost'] are not in ratios.csv"),
    "olmix: no runs": (olmix(change=lambda df: df.iloc[:0]), "has no runs"),
    # W&B
    "wandb: no metric declared": (wandb(args=()), "does not say which columns are metrics"),
    "wandb: unknown metric column": (wandb(args=("--objective", "eval/ppl")), "no column 'eval/ppl'"),
    "wandb: non-numeric metric": (wandb(set_cell("val/loss", 2, "crashed")), "non-number 'crashed'"),
    "wandb: repeated names": (wandb(set_cell("Name", 1, "run-0")), "appears twice in column 'Name'"),
    "wandb: ambiguous weight columns": (wandb(lambda df: df.assign(**{"weights/a": 0.5, "weights/b": 0.5})),
                                       "say which with --map weights=PREFIX"),
    "wandb: bad --map": (with_args(wandb(), "--map", "domain=mix."), "bad --map 'domain=mix.'"),
    "--map on another format": (with_args(long(), "--map", "run=ID"), "--map applies to W&B exports only"),
    # what every format shares
    "unknown domain": (with_args(long(), "--domains", "web,code"), "unknown domain(s) ['books']"),
    "missing domain": (with_args(long(), "--domains", "web,code,books,math"), "no weights for domain(s) ['math']"),
    "several metrics, no objective": (lambda tmp: [str(write_long(tmp))],
                                      "has 2 metrics: choose the objective with --objective METRIC (one of loss, acc)"),
    "unknown objective metric": (with_args(long(), "--objective", "ppl"), "uses metric(s) ['ppl']"),
    "target scale without params": (with_args(long(), "--target", "1B@20000"),
                                    "give its parameter count with --target-params N"),
    "bad target": (with_args(long(), "--target", "1B"), "write it as SCALE@STEPS"),
    "online method": (with_args(long(), "--method", "doremi"), "is an online method"),
    "unknown method": (with_args(long(), "--method", "nope"), "unknown policy 'nope'"),
    "no run selected": (with_args(long(), "--runs", "1M-*"), "no run of"),
    "file not found": (lambda tmp: [str(tmp / "nowhere.csv")], "not found"),
    "format unknown": (lambda tmp: [str(edit(write_long(tmp), lambda df: df.rename(columns={"run_id": "id"})))],
                       "cannot tell the format"),
    "hydra key in an option": (with_args(long(), "--option", "_target_=os.system"), "_target_"),
    "bad option": (with_args(long(), "--option", "n_runs"), "write KEY=VALUE"),
    "bad threads": (with_args(long(), "--threads", "0"), "--threads must be >= 1"),
    "bad budget": (with_args(long(), "--budget", "0"), "--budget must be a number > 0"),
    "bad --params": (with_args(long(), "--params", "1e6"), "--params needs --fidelity"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_in_one_line(case, tmp_path, capsys):
    make, expected = CASES[case]
    argv = make(tmp_path)
    capsys.readouterr()
    assert main(["suggest", *argv]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bomix: error: "), err
    assert expected in lines[0], lines[0]
    assert out == ""


def test_nothing_read_is_executed(tmp_path, capsys):
    """A YAML tag in an option, or code in a cell, stays text: nothing runs."""
    marker = tmp_path / "pwned"
    path = write_long(tmp_path)
    edit(path, set_cell("run_id", 0, f"__import__('os').system('touch {marker}')"))
    assert main(["suggest", str(path), "--objective", "loss", "--method", "uniform",
                 "--option", f"n=!!python/object/apply:os.system ['touch {marker}']"]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["suggest", str(path), "--objective", "loss", "--method", "random", "--json"]) == 0
    assert not marker.exists()


def test_the_command_exits_2_without_a_traceback(tmp_path):
    folder = olmix("ratios.csv", set_cell("code", 0, "0.7"))(tmp_path)
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "bomix.cli", "suggest", *folder], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("bomix: error: ") and "Traceback" not in p.stderr
