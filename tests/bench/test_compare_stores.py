"""benchmarks/compare_stores.py: two campaigns' stores are the same, timestamps aside, or the first difference."""
import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from compare_stores import main  # noqa: E402

SCHEMA = """
CREATE TABLE runs (run_id TEXT, idx INTEGER, spec TEXT, scale TEXT, steps INTEGER, status TEXT, charged REAL,
                   cost REAL, wall_time REAL, error TEXT, info TEXT, finish_seq INTEGER, dispatched_at REAL,
                   finished_at REAL);
CREATE TABLE curves (run_id TEXT, step INTEGER, metric TEXT, value REAL);
CREATE TABLE recommendations (idx INTEGER, n_finished INTEGER, run_id TEXT, budget_used REAL, mixture TEXT,
                              true_value REAL, regret REAL, created REAL, extrapolated INTEGER);
"""


def _store(path: Path, value: float = 2.5, wall: float = 1.0, spec: dict | None = None) -> Path:
    path.mkdir()
    conn = sqlite3.connect(path / "store.sqlite")
    conn.executescript(SCHEMA)
    spec = spec or {"mixture": [0.25, 0.75], "scale": "1M", "steps": 100, "meta": {"gp": {"a": [0.1]}}}
    conn.execute("INSERT INTO runs VALUES ('r0', 0, ?, '1M', 100, 'ok', 0.5, 0.5, ?, NULL, '{}', 0, ?, ?)",
                 (json.dumps(spec), wall, wall, wall))
    conn.execute("INSERT INTO curves VALUES ('r0', 100, 'loss', ?)", (value,))
    conn.execute("INSERT INTO recommendations VALUES (0, 1, 'r0', 0.5, '[0.25, 0.75]', NULL, NULL, ?, NULL)", (wall,))
    conn.commit()
    conn.close()
    return path


def test_same_stores_up_to_timestamps(tmp_path, capsys):
    a, b = _store(tmp_path / "a"), _store(tmp_path / "b", wall=99.0)
    assert main([str(a), str(b / "store.sqlite")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "SAME"


def test_the_first_difference_is_named(tmp_path, capsys):
    a = _store(tmp_path / "a")
    b = _store(tmp_path / "b", spec={"mixture": [0.25, 0.75], "scale": "1M", "steps": 100,
                                     "meta": {"gp": {"a": [0.1 + 2e-17]}}})
    assert main([str(a), str(b)]) == 1
    assert "runs row 0.spec.meta.gp.a[0]: 0.1 != " + repr(0.1 + 2e-17) in capsys.readouterr().out
    c = _store(tmp_path / "c", value=2.5000000000000004)
    assert main([str(a), str(c)]) == 1
    assert "curves row 0.value" in capsys.readouterr().out
