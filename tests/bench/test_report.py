"""Markdown tables: the hand-computed numbers appear in the right cells."""

from __future__ import annotations

from bomix.bench.report import fmt, to_markdown
from bomix.bench.tables import summarize


def test_fmt():
    assert fmt(None) == "-" and fmt(float("nan")) == "-" and fmt(float("inf")) == "inf"
    assert fmt(0.0123456) == "0.0123" and fmt(8 / 3, 2) == "2.7"


def test_markdown_tables_all_pairs(hand_dir):
    md = to_markdown(summarize([hand_dir], [0.005, 0.001]))
    lines = md.splitlines()
    assert "## sim / loss (3 seeds per policy)" in lines
    assert "| A | 3 | 0.004 [0.0025, 0.006] | 7 [6, 8] | - / - |" in lines  # old stores: flag unknown
    # cost to reach: A at eps 0.005 -> 4 [3.5, 7] (2/3); at 0.001 censored at the budget
    assert "| A | 4 [3.5, 7] (2/3) | >=10 [7, 10] (1/3) |" in lines
    assert "eps = 0.005 (row A over column B)" in lines
    assert "| A |  | 2x |" in lines and "| B | 0.5x |  |" in lines
    # eps 0.001: neither policy's median reached it, so a sentence instead of a table of "?"
    at = lines.index("eps = 0.001 (row A over column B)")
    assert lines[at + 2].startswith("no speedup: no policy that runs anything has a median cost to reach")
    assert "| A |  | ? |" not in lines


def test_markdown_relative_thresholds_are_stated(hand_dir, tmp_path):
    """Default thresholds: fractions of the problem's scale, here the largest regret recommended (0.5, B seed 2),
    or uniform's regret once a uniform campaign is benched."""
    md = to_markdown(summarize([hand_dir]))
    assert "eps = 10%, 5%, 1% of the largest regret recommended (0.5): 0.05, 0.025, 0.005" in md
    assert "| policy | eps=0.05 (10%) | eps=0.025 (5%) | eps=0.005 (1%) |" in md
    from bench_fixtures import write_campaign

    write_campaign(hand_dir / "u", policy="uniform", seed=0, recs=[(0.0, 0.2)], budget_used=0.0)
    s = summarize([hand_dir], eps_frac=[0.05])
    assert s["eps"] is None and s["eps_frac"] == [0.05]
    assert s["thresholds"] == [{"backend": "sim", "objective": "loss", "eps": [0.010000000000000002],
                                "eps_frac": [0.05], "scale": 0.2, "scale_source": "uniform's regret"}]
    assert "eps = 5% of uniform's regret (0.2): 0.01" in to_markdown(s)


def test_markdown_reads_a_summary_written_before_relative_thresholds(hand_dir):
    s = summarize([hand_dir], [0.01, 0.005])
    old = {k: v for k, v in s.items() if k not in ("thresholds", "eps_frac")}
    for r in old["cost_to_reach"]:
        del r["eps_frac"]
    assert to_markdown(old) == to_markdown(s)


def test_markdown_baseline_table(hand_dir):
    md = to_markdown(summarize([hand_dir], [0.01, 0.005], baseline="B"))
    assert "| policy (over B) | eps=0.01 | eps=0.005 |" in md
    assert "| A | 2.7x | 2x |" in md
