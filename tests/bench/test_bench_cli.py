"""`bomix bench` from the command line: files written, markdown printed, one-line errors."""

from __future__ import annotations

import json

from bomix.bench.cli import cli_main
from bomix.cli import main


def test_bench_writes_results_and_prints_markdown(hand_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main([str(hand_dir), "--out", str(out), "--eps", "0.01", "0.005", "--baseline", "B"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert res["eps"] == [0.01, 0.005] and res["baseline"] == "B" and res["n_campaigns"] == 6
    assert [p.rsplit("/", 1)[-1] for p in res["plots"]] == ["regret_sim_loss.png", "cost_sim_loss.png"]
    assert (out / "regret_sim_loss.png").stat().st_size > 10_000
    md = (out / "results.md").read_text()
    assert md in printed and "| A | 2.7x | 2x |" in md


def test_bench_thresholds_default_to_fractions_of_the_problems_scale(hand_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main([str(hand_dir), "--out", str(out), "--no-plots"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["eps"] is None and res["eps_frac"] == [0.1, 0.05, 0.01]
    (t,) = res["thresholds"]  # no uniform campaign: the largest regret recommended (B seed 2: 0.5)
    assert t["eps"] == [0.05, 0.025, 0.005] and (t["scale"], t["scale_source"]) == (0.5, "the largest regret recommended")
    assert {r["eps_frac"] for r in res["cost_to_reach"]} == {0.1, 0.05, 0.01}
    assert "eps = 10%, 5%, 1% of the largest regret recommended (0.5)" in capsys.readouterr().out
    assert cli_main([str(hand_dir), "--out", str(out), "--no-plots", "--eps-frac", "0.02"]) == 0
    assert json.loads((out / "results.json").read_text())["thresholds"][0]["eps"] == [0.01]


def test_bench_no_plots(hand_dir, tmp_path, capsys):
    assert cli_main([str(hand_dir), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    assert not list((tmp_path / "o").glob("*.png"))


def test_bench_errors_are_one_line(tmp_path, hand_dir, capsys):
    cases = [
        ([str(tmp_path / "nope")], "does not exist"),
        ([str(tmp_path / "out_empty")], "no campaign directory"),
        ([str(hand_dir), "--baseline", "Z"], "not among the policies"),
        ([str(hand_dir), "--eps", "-1"], "eps must be"),
        ([str(hand_dir), "--eps", "abc"], "invalid float value"),
        ([str(hand_dir), "--eps", "0.01", "--eps-frac", "0.1"], "not allowed with argument"),
        ([str(hand_dir), "--eps-frac", "-0.1"], "eps fractions must be"),
        ([], "required"),
    ]
    (tmp_path / "out_empty").mkdir()
    for args, message in cases:
        assert main(["bench", *args, "--out", str(tmp_path / "o2")]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("bomix: error:") and message in err[0], (args, err)
