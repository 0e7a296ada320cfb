"""Are two campaigns the same? Compares two stores' runs, curves and recommendations, timestamps aside.

A refactoring that must not change behaviour is shown so by running the same campaign before and after
it and comparing the stores: every run (spec, status, charged, cost, error), every curve point and every
recommendation (mixture, n_finished, run_id, budget_used, true_value, regret) must be identical, floats
exactly (both NaN/NULL counts as equal). Wall times, timestamps, ``info`` and ``finish_seq`` are ignored.
Specs and mixtures are compared as parsed JSON, so a change of key order alone is not a difference.

Prints the first difference and exits 1; prints one line per table and exits 0 when they are the same
(2: no store there).

Usage: python benchmarks/compare_stores.py A B     (campaign directories or store files)
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from pathlib import Path

#: table -> (ORDER BY, compared columns, columns holding JSON)
TABLES = {
    "runs": ("idx", ("idx", "run_id", "spec", "scale", "steps", "status", "charged", "cost", "error"), ("spec",)),
    "curves": ("run_id, step, metric", ("run_id", "step", "metric", "value"), ()),
    "recommendations": ("idx", ("idx", "mixture", "n_finished", "run_id", "budget_used", "true_value", "regret"),
                        ("mixture",)),
}


def store_path(p: str) -> Path:
    """A store file, or the store inside a campaign directory."""
    path = Path(p)
    if path.is_dir():
        from bomix.layout import STORE_FILE

        path = path / STORE_FILE
    if not path.is_file():
        print(f"no store at {p}", file=sys.stderr)
        raise SystemExit(2)
    return path


def rows(path: Path, table: str) -> list[tuple]:
    order, cols, json_cols = TABLES[table]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}").fetchall()
    finally:
        conn.close()
    idx = [cols.index(c) for c in json_cols]
    return [tuple(json.loads(v) if i in idx and v is not None else v for i, v in enumerate(r)) for r in out]


def same(a, b) -> bool:
    """Exact equality, recursively; NaN equals NaN (and None); 1 == 1.0 only if both are numbers."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a == b or (math.isnan(a) and math.isnan(b))
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def first_difference(a, b, where: str = "") -> str | None:
    """Where ``a`` and ``b`` first differ (a path into nested values), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{where}: keys {sorted(a.keys() ^ b.keys())} differ"
        for k in a:
            d = first_difference(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    return None if same(a, b) else f"{where}: {_short(a)} != {_short(b)}"


def _short(v, n: int = 300) -> str:
    r = repr(v)
    return r if len(r) <= n else r[:n] + f"... ({len(r)} characters)"


def compare(a: Path, b: Path) -> str | None:
    """The first difference between the stores ``a`` and ``b`` (None when they are the same); prints a line
    per identical table."""
    for table, (_, cols, _) in TABLES.items():
        ra, rb = rows(a, table), rows(b, table)
        for i, (x, y) in enumerate(zip(ra, rb)):
            d = first_difference(dict(zip(cols, x)), dict(zip(cols, y)))
            if d:
                return f"{table} row {i}{d}"
        if len(ra) != len(rb):
            return f"{table}: {len(ra)} rows in A, {len(rb)} in B (the first {min(len(ra), len(rb))} agree)"
        print(f"{table}: {len(ra)} rows identical")
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="campaign directory or store file")
    ap.add_argument("b", help="campaign directory or store file")
    args = ap.parse_args(argv)
    diff = compare(store_path(args.a), store_path(args.b))
    if diff:
        print(f"DIFFERENT: {diff}")
        return 1
    print("SAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
