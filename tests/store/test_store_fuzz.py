"""Fuzz: a damaged or hostile store never runs code, never gives a traceback, and is never changed by a refusal.

A real campaign store and a real study store are mutated one cell at a time (NULL, NaN, huge, negative,
wrong type, a ``_target_`` that would write a marker file, unknown keys), in the tables' columns and in
the JSON documents inside them. Each damaged copy is then opened the ways a user opens it (``bomix show``,
resuming the campaign, ``bomix ask`` on the study). Every case must either be refused with one
:class:`BomixError` line (exit 2) leaving the file byte-for-byte unchanged, or be accepted as a harmless
edit; the cases that are plainly invalid (see :func:`_must_refuse`) must be refused.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from bomix.cli import main as bomix_main
from bomix.errors import BomixError

N_CASES = 150  # per store kind; seeded, so every run fuzzes the same cases
MARKER = "PWNED"


def _hostile(marker: Path) -> list:
    """Values that would run code if anything built them."""
    return [
        {"_target_": "bomix.layout.write_text_atomic", "path": str(marker), "text": "x"},
        {"_target_": "builtins.open", "file": str(marker), "mode": "w"},
        {"name": "random", "_target_": "bomix.layout.write_text_atomic", "path": str(marker), "text": "x"},
    ]


SCALARS = [None, float("nan"), 1e308, -1e308, -1, -7, 0, "x", "", 3, 2.5, "not json", "{", "[]", "{}",
           "null", b"\x00\xff"]


def _base_campaign(root: Path) -> Path:
    from bomix.app import compose, run_from_config

    d = root / "campaign"
    cfg = compose(["backend=synthetic", "policy=random", "budget=2", "seed=0", "progress=false",
                   "backend.k=3"])
    run_from_config(cfg, d)
    return d


def _base_study(root: Path) -> Path:
    from bomix.study import Study

    d = root / "study"
    with Study.create(d, domains=["a", "b", "c"], ladder={"s": 1e6, "l": 1e7}, steps=[100, 400],
                      objective="loss", policy="random", budget=5.0) as st:
        for _ in range(3):
            t = st.ask(wait=False)
            st.tell(t.run_id, value=1.0 + sum(v * v for v in t.mixture.values()))
        st.ask(wait=False)  # one pending run
    return d


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_bases")
    return {"campaign": _base_campaign(root), "study": _base_study(root)}


def _cells(db: Path) -> list[tuple[str, str, int]]:
    """(table, column, rowid) of every cell of the store's tables."""
    con = sqlite3.connect(db)
    out = []
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        rowids = [r[0] for r in con.execute(f"SELECT rowid FROM {table}")]
        out += [(table, c, r) for c in cols for r in rowids]
    con.close()
    return out


def _json_paths(doc, prefix=()) -> list[tuple]:
    """Every key path of a JSON document (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _json_paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):
            out += _json_paths(v, (*prefix, i))
    return out


def _set_path(doc, path, value):
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _cases(kind: str, db: Path, n: int, marker: Path) -> list[dict]:
    rng = np.random.default_rng(0 if kind == "campaign" else 1)
    cells = _cells(db)
    con = sqlite3.connect(db)
    cases = []
    while len(cases) < n:
        table, col, rowid = cells[rng.integers(len(cells))]
        current = con.execute(f"SELECT {col} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()[0]
        doc = None
        if isinstance(current, str):
            try:
                doc = json.loads(current)
            except json.JSONDecodeError:
                doc = None
        if isinstance(doc, (dict, list)) and _json_paths(doc) and rng.random() < 0.6:
            paths = _json_paths(doc)
            path = paths[rng.integers(len(paths))]
            pool = SCALARS[:-1] + _hostile(marker) + [[1, 2], {"unknown_key": 1}]
            value = pool[rng.integers(len(pool))]
            if isinstance(value, float) and not np.isfinite(value):
                value = None if rng.random() < 0.5 else "NaN"
            _set_path(doc, path, value)
            if rng.random() < 0.15 and isinstance(doc, dict):
                doc["_target_"] = "bomix.layout.write_text_atomic"
            new = json.dumps(doc)
            what = f"{table}.{col}[{rowid}] json {'/'.join(map(str, path))} = {value!r}"
        else:
            pool = SCALARS + [json.dumps(h) for h in _hostile(marker)]
            new = pool[rng.integers(len(pool))]
            what = f"{table}.{col}[{rowid}] = {new!r}"
        if new == current:
            continue
        meta_key = con.execute("SELECT key FROM meta WHERE rowid = ?", (rowid,)).fetchone()[0] \
            if table == "meta" else None
        cases.append({"table": table, "col": col, "rowid": int(rowid), "value": new, "what": what,
                      "current": current, "meta_key": meta_key})
    con.close()
    return cases


def _apply(db: Path, case: dict) -> bool:
    """Write the mutation (False when SQLite's own constraints refuse it: not a reachable state)."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute(f"UPDATE {case['table']} SET {case['col']} = ? WHERE rowid = ?", (case["value"], case["rowid"]))
    except sqlite3.IntegrityError:
        return False
    finally:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the damage is in the main file before bomix opens it
        con.close()
    return True


def _must_refuse(case: dict) -> bool:
    """Plainly invalid edits: a hostile value anywhere but in a recorded config, a non-JSON value where JSON was,
    or NULL / a string / a negative number in place of a finite number (charges, costs, steps, indices).

    A recorded config (``meta.config``, ``meta.full_config``) may hold Hydra keys: it is compared, never built
    (:mod:`bomix.store.checks`), so a ``_target_`` there need not be refused, only never run (``CODE RAN``)."""
    v, cur = case["value"], case["current"]
    recorded_config = case.get("meta_key") in ("config", "full_config")
    if isinstance(v, str) and "_target_" in v and not recorded_config:
        return True
    if case["table"] == "runs" and case["col"] == "info" and (v is None or isinstance(v, float) and v != v):
        return False  # NULL (SQLite stores a NaN as NULL) is a run without info, a valid value
    if isinstance(cur, str) and cur[:1] in "{[" and not (isinstance(v, str) and v[:1] in "{["):
        return True
    if case["table"] == "runs" and case["col"] in ("charged", "steps", "idx", "spec", "scale", "status"):
        return v is None or isinstance(v, (str, bytes)) and case["col"] in ("charged", "steps", "idx") \
            or isinstance(v, (int, float)) and case["col"] in ("charged", "steps") and (v < 0 or v != v)
    return False


def _commands(kind: str, d: Path) -> list:
    """The ways a user opens the store: each returns an exit code (a non-BomixError escapes: a bug)."""
    if kind == "study":
        return [lambda: bomix_main(["show", str(d)]), lambda: bomix_main(["ask", str(d), "--no-wait"])]

    def resume() -> int:
        from bomix.app import compose, run_from_config

        try:
            run_from_config(compose(["backend=synthetic", "policy=random", "budget=2", "seed=0", "progress=false",
                                     "backend.k=3"]), d)
        except BomixError as exc:
            print(f"bomix: error: {exc}", file=sys.stderr)
            return 2
        return 0

    return [lambda: bomix_main(["show", str(d)]), resume]


@pytest.mark.parametrize("kind", ["campaign", "study"])
def test_a_mutated_store_is_refused_in_one_line_or_harmless(tmp_path, bases, kind, capsys):
    marker = tmp_path / MARKER
    base = bases[kind]
    cases = _cases(kind, base / "store.sqlite", N_CASES, marker)
    refused = accepted = 0
    problems = []
    for i, case in enumerate(cases):
        d = tmp_path / f"c{i}"
        shutil.copytree(base, d)
        if not _apply(d / "store.sqlite", case):
            continue
        for n_cmd, command in enumerate(_commands(kind, d)):
            before = (d / "store.sqlite").read_bytes()
            what = f"{case['what']} (command {n_cmd})"
            try:
                code = command()
            except Exception as exc:  # noqa: BLE001 - a fuzz finding: anything but BomixError is a traceback
                code = None
                problems.append(f"{what}: traceback ({type(exc).__name__}: {str(exc)[:120]})")
            err = capsys.readouterr().err
            lines = [ln for ln in err.splitlines() if ln.startswith("bomix: error:")]
            if marker.exists():
                problems.append(f"{what}: CODE RAN")
            if "Traceback" in err:
                problems.append(f"{what}: traceback")
            if code == 2:
                refused += 1
                if len(lines) != 1:
                    problems.append(f"{what}: {len(lines)} error lines")
                if (d / "store.sqlite").read_bytes() != before:
                    problems.append(f"{what}: store changed by a refusal")
            elif code is not None:
                accepted += 1
                if _must_refuse(case):
                    problems.append(f"{what}: accepted")
        shutil.rmtree(d)
    print(f"fuzz {kind}: {len(cases)} mutations, {refused} opens refused in one line, {accepted} accepted")
    assert not problems, "\n".join(problems[:30])
    assert refused >= N_CASES // 3, (refused, accepted)
