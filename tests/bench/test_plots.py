"""The regret plot is written, readable as a PNG, and has one line per policy."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
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
