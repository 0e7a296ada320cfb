"""Aggregation statistics against values computed by hand from the HAND campaigns (see conftest)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from bench_fixtures import HAND, write_campaign

from bomix.bench.curves import quantiles, regret_curves, step_values
from bomix.bench.loading import load_campaigns, variant_labels
from bomix.bench.reach import cost_to_reach, seed_cost_to_reach, speedups
from bomix.bench.tables import finals, summarize
from bomix.errors import BomixError

GRID = [0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0]


def test_load_campaigns_finds_nested_dirs_and_skips_interrupted(hand_dir):
    write_campaign(hand_dir / "x" / "killed", policy="A", seed=9, recs=[(1.0, 0.3)], summary=False)
    df = load_campaigns([hand_dir])
    assert df["campaign"].nunique() == 6
    assert sorted(df.groupby(["policy", "seed"]).size().items()) == sorted(
        ((k, len(v)) for k, v in HAND.items()))
    a2 = df[(df.policy == "A") & (df.seed == 2)]
    assert a2["cost"].tolist() == [2.0, 2.0, 6.0] and a2["regret"].tolist() == [0.05, 0.02, 0.008]
    assert set(df["backend"]) == {"sim"} and set(df["objective"]) == {"loss"} and set(df["budget"]) == {10.0}
    assert [s["campaign"].endswith("killed") for s in df.attrs["skipped"]] == [True]
    # the same campaign given twice (as itself and through its parent) is loaded once
    one = next(hand_dir.rglob("policy=A,seed=0"))
    assert load_campaigns([hand_dir, one, one / "summary.json"])["campaign"].nunique() == 6


def test_load_campaigns_follows_linked_folders_once(hand_dir, tmp_path):
    """A sweep folder with earlier campaigns linked in (benchmarks reuse reference campaigns so) counts them; a
    campaign reached twice counts once, and a link back to an ancestor does not loop."""
    sweep = tmp_path / "sweep"
    write_campaign(sweep / "own" / "seed0", policy="C", seed=0, recs=[(1.0, 0.1)])
    (sweep / "linked").symlink_to(hand_dir, target_is_directory=True)
    (sweep / "again").symlink_to(hand_dir, target_is_directory=True)
    (sweep / "own" / "loop").symlink_to(sweep, target_is_directory=True)
    df = load_campaigns([sweep])
    assert df["campaign"].nunique() == 7 and set(df["policy"]) == {"A", "B", "C"}


def test_step_values_right_continuous_and_undefined_before_first():
    got = step_values([1.0, 2.0, 2.0, 5.0], [0.3, 0.2, 0.1, np.nan], [0.5, 1.0, 1.5, 2.0, 4.99, 5.0, 9.0])
    # before cost 1 nothing was recommended; at exactly 2 the later of the two recommendations counts;
    # the NaN regret at 5 is skipped so 0.1 stands
    np.testing.assert_array_equal(got, [np.inf, 0.3, 0.3, 0.1, 0.1, 0.1, 0.1])


def test_quantiles_treat_missing_as_worst():
    v = np.array([[0.1, 1.0], [0.2, np.nan], [np.inf, 3.0]])
    q = quantiles(v, (0.25, 0.5, 0.75))
    np.testing.assert_allclose(q[:, 1], [2.0, 3.0, np.inf])
    np.testing.assert_allclose(q[:2, 0], [0.15, 0.2])
    assert q[2, 0] == np.inf
    np.testing.assert_allclose(quantiles(np.array([3.0, 1.0, 2.0, 4.0]), (0.5,)), [2.5])


def test_regret_curves_median_and_iqr_by_hand(hand_dir):
    cur = regret_curves(load_campaigns([hand_dir]), GRID)
    a = cur[cur.policy == "A"].set_index("cost")
    assert a["n_seeds"].unique().tolist() == [3]
    assert a.loc[0.5, "n_recommended"] == 0 and math.isnan(a.loc[0.5, "median"])
    # cost 1: seeds [0.1, 0.2, none] -> median 0.2, q25 0.15, q75 undefined
    assert a.loc[1.0, "median"] == pytest.approx(0.2) and a.loc[1.0, "q25"] == pytest.approx(0.15)
    assert math.isnan(a.loc[1.0, "q75"])
    expected = {2.0: (0.015, 0.02, 0.11), 3.0: (0.007, 0.01, 0.015), 4.0: (0.0025, 0.004, 0.012),
                6.0: (0.0025, 0.004, 0.006), 10.0: (0.0025, 0.004, 0.006)}
    for c, (q25, med, q75) in expected.items():
        assert (a.loc[c, "q25"], a.loc[c, "median"], a.loc[c, "q75"]) == pytest.approx((q25, med, q75)), c
    # beyond every budget (10) the curve is not drawn
    assert math.isnan(a.loc[12.0, "median"])
    b = cur[cur.policy == "B"].set_index("cost")
    # cost 8: B seeds [0.004, 0.003, 0.5]
    assert b.loc[8.0, "median"] == pytest.approx(0.004) and b.loc[8.0, "q75"] == pytest.approx(0.252)


def test_default_grid_is_shared_and_holds_every_recommendation_cost(hand_dir):
    cur = regret_curves(load_campaigns([hand_dir]), n_points=50)
    ga, gb = (cur[cur.policy == p]["cost"].to_numpy() for p in "AB")
    np.testing.assert_array_equal(ga, gb)
    assert ga[0] == 1.0 and ga[-1] == 10.0 and np.all(np.diff(ga) > 0)
    assert {1.0, 2.0, 3.0, 4.0, 6.0, 8.0} <= set(ga.tolist())


def test_cost_to_reach_by_hand(hand_dir):
    ctr = cost_to_reach(load_campaigns([hand_dir]), [0.01, 0.005, 0.001]).set_index(["policy", "eps"])
    # eps 0.005: A seeds reach at 4, 3, never (budget 10) -> median 4, IQR [3.5, 7]
    r = ctr.loc[("A", 0.005)]
    assert (r["median"], r["q25"], r["q75"]) == pytest.approx((4.0, 3.5, 7.0))
    assert r["n_reached"] == 2 and r["frac_reached"] == pytest.approx(2 / 3) and not r["censored"]
    assert ctr.loc[("B", 0.005), "median"] == 8.0
    assert ctr.loc[("A", 0.01), "median"] == 3.0  # 2, 3, 6 (regret exactly eps counts)
    assert ctr.loc[("B", 0.01), "median"] == 8.0  # 8, 6, never
    # eps 0.001: only A seed 0 reaches -> the median is the budget and censored
    assert ctr.loc[("A", 0.001), "median"] == 10.0 and bool(ctr.loc[("A", 0.001), "censored"])
    assert ctr.loc[("B", 0.001), "n_reached"] == 0
    per = seed_cost_to_reach(load_campaigns([hand_dir]), [0.005])
    assert per.set_index(["policy", "seed"]).loc[("A", 2), "reached"] == False  # noqa: E712


def test_speedups_by_hand_and_baseline(hand_dir):
    ctr = cost_to_reach(load_campaigns([hand_dir]), [0.01, 0.005, 0.001])
    sp = speedups(ctr).set_index(["policy", "over", "eps"])
    assert sp.loc[("A", "B", 0.005), "speedup"] == pytest.approx(2.0)
    assert sp.loc[("B", "A", 0.005), "speedup"] == pytest.approx(0.5)
    assert sp.loc[("A", "B", 0.01), "speedup"] == pytest.approx(8 / 3)
    assert sp.loc[("A", "B", 0.005), "bound"] == "=" and sp.loc[("A", "B", 0.001), "bound"] == "?"
    only = speedups(ctr, baseline="B")
    assert set(only["policy"]) == {"A"} and set(only["over"]) == {"B"} and len(only) == 3
    with pytest.raises(BomixError, match="not among the policies"):
        speedups(ctr, baseline="C")


def test_speedup_bounds_from_censored_medians():
    ctr = pd.DataFrame({"backend": "s", "objective": "o", "policy": ["fast", "slow", "zero"], "eps": 0.1,
                        "median": [2.0, 10.0, 0.0], "censored": [False, True, False]})
    sp = speedups(ctr).set_index(["policy", "over"])
    assert sp.loc[("fast", "slow"), "speedup"] == 5.0 and sp.loc[("fast", "slow"), "bound"] == ">="
    assert sp.loc[("slow", "fast"), "speedup"] == 0.2 and sp.loc[("slow", "fast"), "bound"] == "<="
    # a zero-cost median has no meaningful ratio
    assert math.isnan(sp.loc[("zero", "fast"), "speedup"]) and sp.loc[("zero", "fast"), "bound"] == "-"
    assert math.isnan(sp.loc[("fast", "zero"), "speedup"]) and sp.loc[("fast", "zero"), "bound"] == "-"


def test_reach_of_a_dip_then_climb_curve(tmp_path):
    """A recommendation that dips below eps once and climbs back has not reached eps: the reach is the
    cost from which regret stays <= eps; the first touch is kept as a secondary figure."""
    from bomix.bench.reach import reach_index

    assert reach_index(np.array([0.1, 0.001, 0.05, 0.004, 0.003]), 0.005) == 3
    assert reach_index(np.array([0.1, 0.001, 0.05]), 0.005) is None
    assert reach_index(np.array([0.001, np.nan, 0.002]), 0.005) == 0
    assert reach_index(np.array([np.nan]), 0.005) is None
    write_campaign(tmp_path / "dip", policy="dip", seed=0, recs=[(1.0, 0.1), (2.0, 0.001), (3.0, 0.05), (9.0, 0.04)])
    write_campaign(tmp_path / "late", policy="late", seed=0, recs=[(1.0, 0.1), (5.0, 0.004), (8.0, 0.003)])
    write_campaign(tmp_path / "dipback", policy="dipback", seed=0,
                   recs=[(1.0, 0.002), (2.0, 0.3), (6.0, 0.001), (7.0, 0.002)])
    df = load_campaigns([tmp_path])
    per = seed_cost_to_reach(df, [0.005]).set_index("policy")
    assert not per.loc["dip", "reached"] and per.loc["dip", "cost"] == 10.0  # never stayed: the budget
    assert per.loc["dip", "first_reached"] and per.loc["dip", "first_cost"] == 2.0
    assert per.loc["late", "cost"] == 5.0 and per.loc["dipback", "cost"] == 6.0 and per.loc["dipback", "first_cost"] == 1.0
    ctr = cost_to_reach(df, [0.005]).set_index("policy")
    assert ctr.loc["dip", "median"] == 10.0 and ctr.loc["dip", "first_median"] == 2.0
    sp = speedups(cost_to_reach(df, [0.005])).set_index(["policy", "over"])
    # first touch would have made "dip" 2.5x faster than "late"; the reach says it is slower
    assert sp.loc[("late", "dip"), "speedup"] == pytest.approx(2.0)


def test_a_policy_that_spends_nothing_gets_no_ratio(tmp_path):
    from bomix.bench.report import to_markdown

    write_campaign(tmp_path / "u", policy="uniform", seed=0, recs=[(0.0, 0.003)], budget_used=0.0)
    write_campaign(tmp_path / "r", policy="random", seed=0, recs=[(1.0, 0.1), (4.0, 0.002)])
    s = summarize([tmp_path], [0.005, 0.001])
    assert all(r["bound"] == "-" and r["speedup"] is None for r in s["speedups"])
    md = to_markdown(s)
    assert "0x" not in md and "-x" not in md and "infx" not in md
    assert "First touch (secondary)" in md


def test_finals_by_hand(hand_dir):
    f = finals(load_campaigns([hand_dir])).set_index("policy")
    assert f.loc["A", "regret_median"] == pytest.approx(0.004)  # 0.001, 0.004, 0.008
    assert (f.loc["A", "cost_q25"], f.loc["A", "cost_median"], f.loc["A", "cost_q75"]) == (6.0, 7.0, 8.0)
    assert f.loc["B", "regret_median"] == pytest.approx(0.004) and f.loc["B", "regret_q75"] == pytest.approx(0.252)
    assert f.loc["B", "seeds"] == [0, 1, 2]
    # the tail: p90 over seeds per group (B has one seed far off, 0.5, as many_domains' K = 64 seed 3 was)
    assert f.loc["A", "regret_p90"] == pytest.approx(np.quantile([0.001, 0.004, 0.008], 0.9))
    assert f.loc["B", "regret_p90"] == pytest.approx(np.quantile([0.004, 0.003, 0.5], 0.9))
    assert f.loc["B", "regret_p90"] > 0.4 > f.loc["B", "regret_q75"]


def test_summarize_is_strict_json(hand_dir):
    s = summarize([hand_dir], [0.01, 0.001])
    text = json.dumps(s, allow_nan=False)
    back = json.loads(text)
    assert back["n_campaigns"] == 6 and back["eps"] == [0.01, 0.001]
    assert {c["policy"] for c in back["curves"]} == {"A", "B"}
    assert len(back["speedups"]) == 4 and back["warnings"] == []


def test_non_simulator_campaigns_report_cost_only(tmp_path):
    for seed in range(2):
        write_campaign(tmp_path / f"s{seed}", policy="P", seed=seed, recs=[(1.0, None), (2.0, None)],
                       backend="trainer")
    s = summarize([tmp_path])
    assert s["curves"] == [] and s["cost_to_reach"] == [] and s["speedups"] == []
    assert s["final"][0]["regret_median"] is None and s["final"][0]["cost_median"] == 2.0
    assert any("no regrets" in w for w in s["warnings"])


def test_variant_labels_name_the_differing_policy_settings():
    cfg = lambda scale, noise=0.0: {"policy": {"name": "random", "scale": scale}, "backend": {"noise": noise}}  # noqa: E731
    got = variant_labels({"a": cfg("1B"), "b": cfg("150M"), "c": cfg("1B")}, "random")
    assert got == {"a": "random[scale=1B]", "b": "random[scale=150M]", "c": "random[scale=1B]"}
    got = variant_labels({"a": cfg("1B", 0.0), "b": cfg("1B", 0.1)}, "random")
    assert got == {"a": "random[backend.noise=0.0]", "b": "random[backend.noise=0.1]"}
    assert variant_labels({"a": {"seed": 0}, "b": {"seed": 1}}, "random") == {"a": "random", "b": "random"}


def test_duplicate_seeds_and_mixed_budgets_are_warned(tmp_path):
    write_campaign(tmp_path / "x", policy="P", seed=0, recs=[(1.0, 0.1)], budget=5.0)
    write_campaign(tmp_path / "y", policy="P", seed=0, recs=[(1.0, 0.1)], budget=8.0)
    w = summarize([tmp_path])["warnings"]
    assert any("seeds [0]" in x for x in w) and any("different budgets" in x for x in w)


@pytest.mark.parametrize("bad, message", [
    ("missing", "does not exist"),
    ("empty", "no campaign directory"),
    ("only_killed", "1 interrupted"),
    ("garbage_store", "is not a bomix store"),
    ("no_store", "no store.sqlite"),
    ("bad_summary", "cannot read"),
])
def test_bad_inputs_raise_one_line_errors(tmp_path, bad, message):
    d = tmp_path / bad
    if bad != "missing":
        d.mkdir()
    if bad == "only_killed":
        write_campaign(d / "c", policy="P", seed=0, recs=[(1.0, 0.1)], summary=False)
    if bad in ("garbage_store", "no_store", "bad_summary"):
        write_campaign(d, policy="P", seed=0, recs=[(1.0, 0.1)])
    if bad == "garbage_store":
        (d / "store.sqlite").write_bytes(b"this is not sqlite" * 100)
    if bad == "no_store":
        (d / "store.sqlite").unlink()
    if bad == "bad_summary":
        (d / "summary.json").write_text("{not json")
    with pytest.raises(BomixError, match=message) as exc:
        load_campaigns([d])
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("eps", [[], [-0.1], [float("nan")], ["x"]])
def test_bad_eps(hand_dir, eps):
    with pytest.raises(BomixError, match="eps"):
        summarize([hand_dir], eps)


def test_campaign_without_recommendations_is_skipped(hand_dir):
    write_campaign(hand_dir / "empty", policy="A", seed=7, recs=[])
    df = load_campaigns([hand_dir])
    assert df["campaign"].nunique() == 6
    assert [s["reason"] for s in df.attrs["skipped"]] == ["no recommendations in its store"]
