"""One SQLite file per campaign directory: config, specs, results, curves, recommendations.

Every write is one transaction (WAL journal, synchronous=FULL), so a campaign killed at any moment
resumes without losing or repeating a finished run: a spec is written *before* it is dispatched
(status ``pending``); a result replaces that status in the same transaction that adds its curve.

Several processes may share one store (the ask/tell ``Study``): every write is a short
``BEGIN IMMEDIATE`` transaction, run indices are allocated inside the insert transaction, and a
busy store is waited for (``busy_timeout``). One *campaign* per directory is enforced separately,
by :class:`bomix.lock.CampaignLock`. :class:`StoreReader` opens a store read-only (bench, export).

The schema version is SQLite's ``user_version``; a store written by a newer bomix is refused.
"""

from bomix.store.reader import StoreReader
from bomix.store.writer import Store

__all__ = ["Store", "StoreReader"]
