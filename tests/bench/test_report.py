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
    assert "| A |  | ? |" in lines  # eps 0.001: neither policy's median reached


def test_markdown_baseline_table(hand_dir):
    md = to_markdown(summarize([hand_dir], [0.01, 0.005], baseline="B"))
    assert "| policy (over B) | eps=0.01 | eps=0.005 |" in md
    assert "| A | 2.7x | 2x |" in md
