"""The regret plot is written, readable as a PNG, and has one line per policy."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import json  # noqa: E402

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bomix.bench.plots import plot_regret_curves, policy_colours  # noqa: E402
from bomix.bench.tables import summarize  # noqa: E402


def test_one_png_per_problem(hand_dir, tmp_path):
    from bench_fixtures import write_campaign

    write_campaign(hand_dir / "other" / "c0", policy="A", seed=0, recs=[(0.5, 0.0), (1.0, 0.0)],
                   backend="sim2", objective="mean7")
    paths = plot_regret_curves(summarize([hand_dir]), tmp_path / "plots")
    assert sorted(p.name for p in paths) == ["regret_sim2_mean7.png", "regret_sim_loss.png"]
    img = mpimg.imread(paths[1])
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert np.std(img[..., :3]) > 0.05  # not blank


def test_policy_colours_are_stable_and_distinct():
    a = policy_colours(["b", "a", "c"])
    assert a == policy_colours(["c", "b", "a", "a"])
    assert len(set(a.values())) == 3
    assert len(set(policy_colours([f"p{i}" for i in range(15)]).values())) == 15


def test_cost_to_reach_plot(hand_dir, tmp_path):
    from bomix.bench.plots import plot_cost_to_reach

    paths = plot_cost_to_reach(summarize([hand_dir], [0.01, 0.001]), tmp_path)
    assert [p.name for p in paths] == ["cost_sim_loss.png"]
    img = mpimg.imread(paths[0])
    assert img.shape[1] > 600 and np.std(img[..., :3]) > 0.05


POLICIES = ["mfbo", "mfms_ei", "mfkg", "mfmes", "sfbo", "hyperband", "dml", "bimix", "autoscale", "regmix",
            "sft_law", "uniform", "random", "fixed", "doremi"]


def many_policies(root, n_seeds=3):
    """15 policies of 4 families; the law policies stop early (cost 0.5), the others spend the budget 8."""
    from bench_fixtures import write_campaign

    rng = np.random.default_rng(0)
    for i, p in enumerate(POLICIES):
        stop = 0.5 if p in ("dml", "bimix", "autoscale", "regmix", "sft_law") else 8.0
        for s in range(n_seeds):
            costs = np.geomspace(0.05, stop, 6)
            regrets = np.sort(rng.uniform(0.001, 0.2, 6))[::-1] * (1 + i / 10)
            write_campaign(root / p / f"s{s}", policy=p, seed=s, budget=8.0,
                           recs=[(float(c), float(r)) for c, r in zip(costs, regrets)])
    return root


def test_fourteen_plus_policies_get_family_panels_legends_outside_and_lines_that_stop(tmp_path):
    from bomix.bench.plots import FAMILIES, family

    assert {family(p) for p in POLICIES} == set(FAMILIES)
    assert family("mfbo[rule=aei]") == "Bayesian optimisation" and family("mystery") == "other"
    summary = summarize([many_policies(tmp_path / "c")])
    import matplotlib.pyplot as plt

    captured = {}
    orig = plt.Figure.savefig

    def spy(fig, *a, **k):
        captured["fig"] = fig
        return orig(fig, *a, **k)

    plt.Figure.savefig = spy
    try:
        (path,) = plot_regret_curves(summary, tmp_path / "plots")
    finally:
        plt.Figure.savefig = orig
    fig = captured["fig"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in axes) == sorted(FAMILIES)  # one panel per family
    for ax in axes:
        leg = ax.get_legend()
        box, frame = leg.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x0 >= frame.x1  # legend outside the axes, not over the data
        labels = [t.get_text().split(" ")[0] for t in leg.get_texts()]
        assert {family(p) for p in labels} == {ax.get_title()}
        coloured = [ln for ln in ax.get_lines() if ln.get_label().split(" ")[0] in POLICIES]
        assert len({ln.get_color() for ln in coloured}) == len(coloured)  # distinct colours in a panel
        for ln in coloured:
            x = np.asarray(ln.get_xdata(), dtype=float)
            law = family(ln.get_label().split(" ")[0]) == "mixing laws"
            assert x.max() == pytest.approx(0.5 if law else 8.0, rel=0.05)  # the line ends where campaigns stopped
        for t in ax.get_xticklabels() + ax.get_yticklabels():
            assert "$" not in t.get_text()  # plain numbers, no 10^k mathtext
    img = mpimg.imread(path)
    assert img.shape[1] > 1200 and np.std(img[..., :3]) > 0.05


# ----- thresholds relative to the problem, zero-cost baselines, empty plots (issue 26 item 5) ------------------------
@pytest.fixture
def saved(monkeypatch):
    """Every figure saved while the test runs: ``[(figure, path)]`` (figures are drawn, so their text is laid out)."""
    import matplotlib.pyplot as plt

    out = []
    orig = plt.Figure.savefig

    def spy(fig, path, *a, **k):
        out.append((fig, path))
        return orig(fig, path, *a, **k)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    return out


def with_uniform(hand_dir, regret=0.2):
    """The HAND campaigns plus three uniform campaigns (no runs, cost 0) at ``regret``."""
    from bench_fixtures import write_campaign

    for s in range(3):
        write_campaign(hand_dir / f"uniform{s}", policy="uniform", seed=s, recs=[(0.0, regret)], budget_used=0.0)
    return hand_dir


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_default_thresholds_are_fractions_of_uniforms_regret_and_say_so(hand_dir, tmp_path, saved):
    plot_regret_curves(summarize([with_uniform(hand_dir)]), tmp_path)
    fig, _ = saved[0]
    (ax,) = [a for a in fig.axes if a.get_visible()]
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(ln.get_ydata()[0] for ln in dashed) == pytest.approx([0.002, 0.01, 0.02])  # 1%, 5%, 10% of 0.2
    assert {"eps=0.02 (10%)", "eps=0.01 (5%)", "eps=0.002 (1%)"} <= set(_texts(ax))
    assert "eps = 10%, 5%, 1% of uniform's regret (0.2): 0.02, 0.01, 0.002" in fig._suptitle.get_text()
    # without a uniform campaign the scale is the largest regret recommended (0.5), and the title says so
    saved.clear()
    plot_regret_curves(summarize([hand_dir / "2026-01-01_00-00-00"]), tmp_path / "b")
    assert "of the largest regret recommended (0.5): 0.05, 0.025, 0.005" in saved[0][0]._suptitle.get_text()
    # absolute thresholds stay available
    saved.clear()
    plot_regret_curves(summarize([hand_dir], [0.01, 0.001]), tmp_path / "c")
    assert "eps (absolute regret thresholds): 0.01, 0.001" in saved[0][0]._suptitle.get_text()


def test_a_policy_without_runs_is_a_horizontal_line_at_its_regret(hand_dir, tmp_path, saved):
    plot_regret_curves(summarize([with_uniform(hand_dir, 0.2)]), tmp_path)
    fig, _ = saved[0]
    (ax,) = [a for a in fig.axes if a.get_visible()]
    (uni,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("uniform")]
    assert uni.get_label() == "uniform (n=3, no runs: 0.2)" and uni.get_linestyle() == ":"
    assert list(uni.get_ydata()) == [0.2, 0.2] and list(uni.get_xdata()) == [0, 1]  # across the whole axis
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    line, frame = uni.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert line.x0 <= frame.x0 + 1 and line.x1 >= frame.x1 - 1  # drawn, from the left edge to the right one
    assert "uniform (n=3, no runs: 0.2)" in [t.get_text() for t in ax.get_legend().get_texts()]
    # the policies with runs are still step lines that end where their campaigns stopped
    a = next(ln for ln in ax.get_lines() if ln.get_label().startswith("A "))
    assert np.nanmax(np.asarray(a.get_xdata(), float)) == pytest.approx(9.0, rel=0.01)


def test_cost_plot_leaves_out_policies_without_runs_and_eps_nobody_reached(hand_dir, tmp_path, saved):
    from bomix.bench.plots import plot_cost_to_reach

    notes: list[str] = []
    plot_cost_to_reach(summarize([with_uniform(hand_dir)]), tmp_path, notes)
    fig, _ = saved[0]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["regret <= 0.02 (10%)", "regret <= 0.01 (5%)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B"]  # no uniform bar
    assert len(ax.patches) == 4  # two policies x two eps
    foot = " ".join(_texts(ax))
    assert "no policy's median reached it: regret <= 0.002 (1%)" in foot and "no runs (no cost): uniform" in foot
    assert notes == ["cost_sim_loss.png leaves out eps 0.002 (1%): no policy's median reached it"]
    assert "of uniform's regret (0.2)" in ax.get_title()


def test_an_empty_cost_plot_is_not_written_and_bench_says_so(hand_dir, tmp_path, capsys):
    from bomix.bench.cli import cli_main

    out = tmp_path / "out"
    assert cli_main([str(hand_dir), "--out", str(out), "--eps", "0.01"]) == 0  # reached: the plot is written
    assert (out / "cost_sim_loss.png").exists()
    capsys.readouterr()
    assert cli_main([str(hand_dir), "--out", str(out), "--eps", "0.001", "0.0001"]) == 0  # nobody's median reaches
    printed = capsys.readouterr().out
    assert not (out / "cost_sim_loss.png").exists()  # not written, and the earlier one removed
    assert (out / "regret_sim_loss.png").exists()
    res = json.loads((out / "results.json").read_text())
    assert [p.rsplit("/", 1)[-1] for p in res["plots"]] == ["regret_sim_loss.png"]
    (note,) = res["plots_omitted"]
    assert note.startswith("cost_sim_loss.png not written: no policy that runs anything has a median cost to reach "
                           "regret <= 0.001, 0.0001 on sim / loss")
    assert f"- {note}" in (out / "results.md").read_text() and note in printed
    assert "1 empty plot(s) not written" in printed


def test_plots_of_a_results_json_written_before_relative_thresholds(tmp_path, saved):
    """A committed bench output (absolute eps only, a uniform policy with no runs) still plots and tabulates."""
    from pathlib import Path

    from bomix.bench.plots import plot_cost_to_reach
    from bomix.bench.report import to_markdown

    old = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "online_comparison"
                      / "bench_rho1" / "results.json").read_text())
    assert "thresholds" not in old
    assert "eps=0.05" in to_markdown(old)
    plot_regret_curves(old, tmp_path)
    fig, _ = saved[0]
    assert "eps (absolute regret thresholds): 0.05, 0.02, 0.005" in fig._suptitle.get_text()
    labels = [ln.get_label() for ax in fig.axes for ln in ax.get_lines()]
    assert any(lab.startswith("uniform (n=5, no runs:") for lab in labels)
    assert plot_cost_to_reach(old, tmp_path, [])
