"""The store file: its tables, schema version and migrations; opening it (:func:`open_store`, the one
place a store file is created, opened and checked); transactions; and what an SQLite error means.

An SQLite error is one of two kinds, told apart by its result code and never confused:

* the file is damaged (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``; a table or column missing): the store
  cannot be trusted (:class:`NotAStoreError`, :class:`StoreDamagedError`);
* the file system failed a healthy store (full, read-only, unopenable, I/O error, busy): nothing was
  written, the store is intact and a re-run after the fix resumes it (:class:`StoreIOError`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from bomix.errors import BomixError
from bomix.layout import refuse_symlink

#: the store schema this bomix writes (``PRAGMA user_version``); 0 = a store from before versioning
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000
#: below this many free bytes an I/O error is reported as a full file system
FULL_BELOW_BYTES = 1 << 20

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
    extrapolated INTEGER,
    pred_mean REAL,
    pred_sd REAL,
    fallback INTEGER,
    pred_feasible REAL,
    feasible INTEGER
);
"""

#: the columns every store has (the recommendations' :data:`ADDED_COLUMNS` are added by :func:`_migrate`)
COLUMNS = {
    "meta": ("key", "value"),
    "runs": ("run_id", "idx", "spec", "scale", "steps", "status", "charged", "cost", "wall_time", "error", "info",
             "finish_seq", "dispatched_at", "finished_at"),
    "curves": ("run_id", "step", "metric", "value"),
    "recommendations": ("idx", "n_finished", "run_id", "budget_used", "mixture", "true_value", "regret", "created"),
}

#: columns added to a table after stores were first written: (table, column, SQL type), oldest first. Each is
#: nullable (NULL = unknown, what a row written before it holds): :func:`_migrate` adds the missing ones when a
#: store is opened for writing, and a read of a store opened read-only selects ``NULL AS column`` for each one
#: it lacks, so a store of any earlier bomix opens, resumes and reads. Adding a nullable column needs no new
#: :data:`SCHEMA_VERSION`: an older bomix reads and writes such a store as before (leaving the column NULL).
ADDED_COLUMNS = (
    ("recommendations", "extrapolated", "INTEGER"),  # the simulator scored the true value outside its trust region
    ("recommendations", "pred_mean", "REAL"),  # the policy's predicted target objective of the recommendation
    ("recommendations", "pred_sd", "REAL"),  # ... and its sd (both NULL: the policy has no model / prediction)
    ("recommendations", "fallback", "INTEGER"),  # 1: a numerical fallback, not the policy's model's answer
    ("recommendations", "pred_feasible", "REAL"),  # the policy's probability that it meets the outcome constraints
    ("recommendations", "feasible", "INTEGER"),  # 1/0: it meets them in the simulator's truth (NULL: unknown / none)
)

#: the fix for a store whose content was edited or damaged
RESTORE = "restore store.sqlite from a backup (or start a new campaign in another directory)"


class StoreDamagedError(BomixError):
    """The store's content cannot be trusted: a table or column is missing, or a value is malformed."""


class NotAStoreError(StoreDamagedError):
    """The file is not a readable SQLite database (empty, not SQLite, corrupt); ``force`` moves it aside."""

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem


class StoreIOError(BomixError):
    """The file system failed a healthy store (full, read-only, cannot open, I/O error, busy): nothing was written."""


# ----- what an SQLite error means ---------------------------------------------------------------
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_CORRUPT_WORDS = ("file is not a database", "malformed", "file is encrypted")


def is_store_error(exc: BaseException) -> bool:
    """True for the sqlite3 errors the store's file (or its file system) causes: ``OperationalError``
    (full, read-only, I/O, busy, a missing table) and a bare ``DatabaseError`` (not a database, malformed).
    A programming error (a closed connection, a constraint) is not one: it is raised as it is."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_corrupt(exc: sqlite3.Error) -> bool:
    """True when ``exc`` says the file itself is damaged or not a database (never for an I/O error)."""
    code = _primary_code(exc)
    if code is not None:
        return code in _CORRUPT_CODES
    return any(w in str(exc) for w in _CORRUPT_WORDS)


def _fs_state(path: Path) -> tuple[bool, int | None]:
    """(read-only file system, free bytes or None) of the file system holding ``path``."""
    for p in (path, path.parent):
        try:
            st = os.statvfs(p)
        except OSError:
            continue
        return bool(st.f_flag & os.ST_RDONLY), int(st.f_bavail) * int(st.f_frsize)
    return False, None


def sqlite_error(path: Path, exc: sqlite3.Error, writing: bool) -> BomixError:
    """The one-line error for ``exc`` raised on the store at ``path`` (reading, or ``writing``)."""
    msg = _first_line(exc)
    if is_corrupt(exc):
        return StoreDamagedError(f"{path} is damaged ({msg}): {RESTORE}, or pass force=true to move it aside "
                                 "and start a new campaign")
    code = _primary_code(exc)
    if code == sqlite3.SQLITE_ERROR and ("no such table" in msg or "no such column" in msg):
        return StoreDamagedError(f"{path} is damaged ({msg}): {RESTORE}")
    verb = "write" if writing else "read"
    read_only, free = _fs_state(path)
    intact = "(the store is intact)"
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and free is not None
                                       and free < FULL_BELOW_BYTES):
        room = "" if free is None else f", {free} bytes free"
        return StoreIOError(f"cannot {verb} {path}: database or disk is full ({msg}{room}): free space on its "
                            f"file system and re-run {intact}")
    if code == sqlite3.SQLITE_READONLY or (read_only and code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN)):
        where = "it is on a read-only file system" if read_only else "the file or its directory is not writable"
        return StoreIOError(f"cannot {verb} {path}: {msg} ({where}): make it writable and re-run, or copy the "
                            f"directory to a writable place {intact}")
    if code == sqlite3.SQLITE_CANTOPEN:
        return StoreIOError(f"cannot open {path} ({msg}): check that the file and its directory exist and are "
                            f"readable and writable (SQLite keeps {path.name}-wal and {path.name}-shm next to it) "
                            f"and re-run {intact}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreIOError(f"{path} is locked by another process ({msg}, waited {BUSY_TIMEOUT_MS // 1000} s): "
                            f"re-run when it is done {intact}")
    if code == sqlite3.SQLITE_IOERR:
        return StoreIOError(f"cannot {verb} {path}: {msg} ({getattr(exc, 'sqlite_errorname', 'SQLITE_IOERR')}): "
                            f"check its file system (full, read-only, failing, a network mount?) and re-run {intact}")
    return StoreIOError(f"cannot {verb} {path} ({msg}, {getattr(exc, 'sqlite_errorname', type(exc).__name__)}): "
                        f"check the file and its file system and re-run {intact}")


# ----- opening ------------------------------------------------------------------------------------
def _create(path: Path) -> None:
    """Create an empty store atomically: built under a temporary name, then hard-linked into place.

    So ``store.sqlite`` is never a half-created (e.g. 0-byte) file, even if the process is killed
    here; ``os.link`` fails if another process created the store first (theirs is kept).
    """
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
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
    except sqlite3.OperationalError as exc:
        raise sqlite_error(path, exc, writing=True) from None
    except OSError as exc:
        raise StoreIOError(f"cannot create the store {path}: {exc.strerror or exc}: check that its directory is "
                           "writable and its file system has room, and re-run") from None
    finally:
        for suffix in ("", "-wal", "-shm"):
            try:
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)
            except OSError:
                pass


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")  # a no-op (no write) on a store already in WAL mode
        conn.execute("PRAGMA synchronous=FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """``mode=ro``; on a read-only file system (where nobody can write it and SQLite cannot create the
    ``-shm`` file a WAL store needs) with no unmerged ``-wal``, ``immutable=1``."""
    uri = path.resolve().as_uri()
    wal = Path(f"{path}-wal")
    frozen = _fs_state(path)[0] and not (wal.exists() and wal.stat().st_size > 0)
    conn = sqlite3.connect(f"{uri}?mode=ro{'&immutable=1' if frozen else ''}", uri=True,
                           timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except BaseException:
        conn.close()
        raise
    return conn


def _file_problem(path: Path) -> str | None:
    """Why an existing file at ``path`` cannot be a store (None: absent, or starts like SQLite)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreIOError(f"cannot read {path}: {exc.strerror or exc}: check its permissions and file system "
                           "and re-run (the store was not changed)") from None
    if not head:
        return "the file is empty (0 bytes)"
    if head != _SQLITE_MAGIC:
        return "not an SQLite file"
    return None


def _not_a_store(path: Path, problem: str, read_only: bool) -> NotAStoreError:
    if read_only:
        return NotAStoreError(f"{path} is not a bomix store ({problem}): is it a campaign directory?", problem)
    return NotAStoreError(f"{path} is not a bomix store ({problem}): choose another campaign directory, "
                          "or pass force=true to move it aside and start a new campaign", problem)


def _check_version(conn: sqlite3.Connection, path: Path) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise BomixError(f"{path} has store schema version {version}; this bomix reads up to "
                         f"{SCHEMA_VERSION}: upgrade bomix to open it")
    return version


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def check_tables(conn: sqlite3.Connection, path: Path, names: Iterable[str] = tuple(COLUMNS)) -> None:
    """Refuse a store with one of the tables ``names`` (or one of its columns) missing: dropped by hand,
    it is never silently re-created (a writer checks every table when it opens a store; a reader each
    table before it first reads it)."""
    tables = _tables(conn)
    missing = [t for t in names if t not in tables]
    if missing:
        raise StoreDamagedError(f"{path} is damaged: table(s) {missing} are missing (dropped?): {RESTORE}")
    for table in names:
        cols = COLUMNS[table]
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        lacking = [c for c in cols if c not in have]
        if lacking:
            raise StoreDamagedError(f"{path} is damaged: table {table} lacks column(s) {lacking}: {RESTORE}")


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names ``table`` has in this store."""
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring an older store up to :data:`SCHEMA_VERSION` (writes only when something is missing): every
    :data:`ADDED_COLUMNS` column it lacks (NULL in its existing rows = unknown) and the version number."""
    if any(c not in table_columns(conn, t) for t, c, _ in ADDED_COLUMNS):
        with _Transaction(conn, path):  # all of them or none (SQLite's DDL is transactional)
            for table, column, kind in ADDED_COLUMNS:
                if column not in table_columns(conn, table):  # again under the write lock: another process
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")  # may have added it
    if version < SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def open_store(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """Open the store file at ``path``: the one place a store file is created, opened and checked.

    Args:
        path: the store file (``CampaignLayout.store``).
        read_only: open ``mode=ro`` (bench, export, ``show``): never creates or writes anything. Otherwise
            create an empty store when there is none (atomically), and migrate an older one.

    An existing, current store is never written while it is opened: a store that fails a check is left
    byte for byte as it was.

    Raises:
        BomixError: no store (read-only), a newer schema version.
        NotAStoreError: empty, not SQLite, or corrupt (a writer may move it aside: ``force``).
        StoreDamagedError: an SQLite file of something else, a table or column missing.
        StoreIOError: the file system failed (full, read-only, cannot open, I/O error, busy).
    """
    # SQLite follows symbolic links: never let it write a store (or its side files) through one
    for side in ([] if read_only else [path]) + [Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal")]:
        refuse_symlink(side)
    if read_only:
        if not path.is_file():
            raise BomixError(f"{path.parent} has no {path.name}: give a campaign directory")
    elif not path.exists():
        _create(path)
    problem = _file_problem(path)
    if problem is not None:
        raise _not_a_store(path, problem, read_only)
    conn = None
    try:
        conn = _connect_read_only(path) if read_only else _connect(path)
        version = _check_version(conn, path)
        tables = _tables(conn)
        if tables and "runs" not in tables:
            raise StoreDamagedError(f"{path} is an SQLite file of something else (tables {sorted(tables)[:5]}): "
                                    "choose another campaign directory")
        if not tables and not read_only:  # an empty SQLite file: make it a store
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return conn
        if not read_only:
            check_tables(conn, path)
            _migrate(conn, path, version)
        return conn
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        if not is_store_error(exc):
            raise
        if is_corrupt(exc):
            raise _not_a_store(path, _first_line(exc), read_only) from None
        raise sqlite_error(path, exc, writing=not read_only) from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise


# ----- transactions ---------------------------------------------------------------------------------
class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection.

    An SQLite error inside (or on commit) becomes one line (:func:`sqlite_error`), after the rollback:
    the store keeps its state from before the transaction.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, begin: str = "BEGIN IMMEDIATE"):
        self.conn, self.path, self.begin = conn, path, begin
        self.writing = begin != "BEGIN"

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.conn.in_transaction  # an inner transaction joins the outer one
        if self.outer:
            try:
                self.conn.execute(self.begin)
            except sqlite3.Error as exc:
                if not is_store_error(exc):
                    raise
                raise sqlite_error(self.path, exc, self.writing) from None
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.outer:
            return
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error as commit_exc:
                self._rollback()
                if not is_store_error(commit_exc):
                    raise
                raise sqlite_error(self.path, commit_exc, self.writing) from None
        self._rollback()
        if is_store_error(exc):
            raise sqlite_error(self.path, exc, self.writing) from None

    def _rollback(self) -> None:
        if self.conn.in_transaction:  # SQLite may already have rolled back (a full disk, an I/O error)
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the connection is closed by its owner; SQLite rolls back on close
