"""The regret plot is written, readable as a PNG, and has one line per policy."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402

from bomix.bench.aggregate import summarize  # noqa: E402
from bomix.bench.plots import plot_regret_curves, policy_colours  # noqa: E402


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
