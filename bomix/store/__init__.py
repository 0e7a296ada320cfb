"""One SQLite file per campaign directory: config, specs, results, curves, recommendations.

Every write is one transaction (WAL journal, synchronous=FULL), so a campaign killed at any moment
resumes without losing or repeating a finished run: a spec is written *before* it is dispatched
(status ``pending``); a result replaces that status in the same transaction that adds its curve.

Several processes may share one store (the ask/tell ``Study``): every write is a short
``BEGIN IMMEDIATE`` transaction, run indices are allocated inside the insert transaction, and a
busy store is waited for (``busy_timeout``). One *campaign* per directory is enforced separately,
by :class:`bomix.lock.CampaignLock`. :class:`StoreReader` opens a store read-only (bench, export).

The schema version is SQLite's ``user_version``; a store written by a newer bomix is refused.

A store is data from outside (it may be hand-edited or damaged): every value is checked when it is read
(:mod:`bomix.store.checks`), and a bad one is refused in one line naming the table, column, row and fix;
a refused store is never written (opening a current store writes nothing). An SQLite error is either a
damaged file or an I/O problem of a healthy store (full disk, read-only file system), never confused
(:func:`bomix.store.schema.sqlite_error`). :class:`bomix.store.runlog.RunLog` reads the runs
incrementally (a Study's ask reads only what changed) with the same result as a full read.
"""

from bomix.store.reader import StoreReader
from bomix.store.writer import Store

__all__ = ["Store", "StoreReader"]
