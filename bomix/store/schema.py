"""The store file: its tables, schema version and migrations; creating, opening and checking it; transactions."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bomix.errors import BomixError

#: the store schema this bomix writes (``PRAGMA user_version``); 0 = a store from before versioning
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    scale TEXT NOT NULL,
    steps INTEGER NOT NULL,
    status TEXT NOT NULL,
    charged REAL NOT NULL,
    cost REAL,
    wall_time REAL,
    error TEXT,
    info TEXT,
    finish_seq INTEGER,
    dispatched_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS curves (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    step INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, step, metric)
);
CREATE TABLE IF NOT EXISTS recommendations (
    idx INTEGER PRIMARY KEY,
    n_finished INTEGER NOT NULL,
    run_id TEXT,
    budget_used REAL NOT NULL,
    mixture TEXT NOT NULL,
    true_value REAL,
    regret REAL,
    created REAL NOT NULL,
    extrapolated INTEGER
);
"""



def _create(path: Path) -> None:
    """Create an empty store atomically: built under a temporary name, then hard-linked into place.

    So ``store.sqlite`` is never a half-created (e.g. 0-byte) file, even if the process is killed
    here; ``os.link`` fails if another process created the store first (theirs is kept).
    """
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("PRAGMA journal_mode=WAL")  # persistent in the file
        finally:
            conn.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    except (OSError, sqlite3.Error) as exc:
        raise BomixError(f"cannot create the store {path}: {exc}") from None
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _file_problem(path: Path) -> str | None:
    """Why an existing file at ``path`` cannot be a store (None: absent, or starts like SQLite)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if not head:
        return "the file is empty (0 bytes)"
    if head != _SQLITE_MAGIC:
        return "not an SQLite file"
    return None


def _add_columns(conn: sqlite3.Connection) -> None:
    """Columns added after a store may have been written: recommendations.extrapolated (NULL = unknown)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(recommendations)")}
    if "extrapolated" not in cols:
        conn.execute("ALTER TABLE recommendations ADD COLUMN extrapolated INTEGER")


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise BomixError(f"{path} has store schema version {version}; this bomix reads up to "
                         f"{SCHEMA_VERSION}: upgrade bomix to open it")


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.conn.in_transaction  # an inner transaction joins the outer one
        if self.outer:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.outer:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
