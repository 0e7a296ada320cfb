"""A tiny builder of campaign directories (summary.json + store.sqlite) with chosen recommendations."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, idx INTEGER, spec TEXT, status TEXT, charged REAL, cost REAL,
                   wall_time REAL, error TEXT);
CREATE TABLE recommendations (idx INTEGER PRIMARY KEY, n_finished INTEGER, run_id TEXT, budget_used REAL,
                              mixture TEXT, true_value REAL, regret REAL, created REAL);
"""


def write_campaign(directory: Path, *, policy: str, seed: int, recs: list[tuple[float, float | None]],
                   budget: float = 10.0, budget_used: float | None = None, backend: str = "sim",
                   objective: str = "loss", config: dict | None = None, summary: bool = True) -> Path:
    """Write one campaign directory.

    Args:
        recs: ``(budget_used, regret)`` of each recommendation in the order made (regret None = NULL).
        budget_used: the summary's final cost (default: the last recommendation's).
        config: stored as ``meta.config`` (default ``{"policy": policy, "seed": seed}``).
        summary: write summary.json (False = an interrupted campaign).
    """
    directory.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(directory / "store.sqlite")
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('config', ?)", (json.dumps(config or {"policy": policy, "seed": seed}),))
    for i, (cost, regret) in enumerate(recs):
        tv = None if regret is None else 3.0 + regret
        conn.execute("INSERT INTO runs VALUES (?, ?, '{}', 'ok', ?, ?, 0.1, NULL)", (f"r{i:05d}", i, cost, cost))
        conn.execute("INSERT INTO recommendations VALUES (?, ?, ?, ?, '[0.5, 0.5]', ?, ?, 0.0)",
                     (i + 1, i + 1, f"r{i:05d}", cost, tv, regret))
    conn.commit()
    conn.close()
    if summary:
        last = recs[-1] if recs else (0.0, None)
        (directory / "summary.json").write_text(json.dumps({
            "policy": policy, "backend": backend, "objective": objective, "seed": seed, "budget": budget,
            "n_runs": len(recs), "budget_used": last[0] if budget_used is None else budget_used,
            "recommendation": {"a": 0.5, "b": 0.5}, "true_value": None if last[1] is None else 3.0 + last[1],
            "regret": last[1], "stop_reason": "budget"}))
    return directory


#: hand-made campaigns (cost, regret) whose statistics the tests compute by hand
HAND = {
    ("A", 0): [(1.0, 0.1), (2.0, 0.01), (4.0, 0.001)],
    ("A", 1): [(1.0, 0.2), (3.0, 0.004)],
    ("A", 2): [(2.0, 0.05), (2.0, 0.02), (6.0, 0.008)],  # two at one cost: the last one counts
    ("B", 0): [(2.0, 0.1), (8.0, 0.004)],
    ("B", 1): [(4.0, 0.05), (6.0, 0.003)],
    ("B", 2): [(1.0, 0.5)],
}
#: the summaries' final compute used
HAND_USED = {("A", 0): 5.0, ("A", 1): 7.0, ("A", 2): 9.0, ("B", 0): 10.0, ("B", 1): 10.0, ("B", 2): 10.0}


@pytest.fixture
def hand_dir(tmp_path) -> Path:
    """A Hydra-multirun-like folder holding the HAND campaigns in nested sub-folders."""
    root = tmp_path / "multirun" / "2026-01-01_00-00-00"
    for (policy, seed), recs in HAND.items():
        write_campaign(root / f"policy={policy},seed={seed}", policy=policy, seed=seed, recs=recs,
                       budget_used=HAND_USED[(policy, seed)])
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return tmp_path / "multirun"
