"""The read-only store (bench, export, ``bomix show``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from bomix.errors import BomixError
from bomix.layout import STORE_FILE, CampaignLayout
from bomix.store.schema import BUSY_TIMEOUT_MS, _check_version, _file_problem
from bomix.store.writer import Store


class StoreReader(Store):
    """A store opened read-only (``mode=ro``): for bench, export and ``show``; never writes or creates.

    Raises:
        BomixError: no store in ``directory``, or not a readable bomix store.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = CampaignLayout(self.directory).store
        if not self.path.is_file():
            raise BomixError(f"{self.directory} has no {STORE_FILE}: give a campaign directory")
        problem = _file_problem(self.path)
        if problem is not None:
            raise BomixError(f"{self.path} is not a bomix store ({problem}): is it a campaign directory?")
        try:
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                         timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            _check_version(self._conn, self.path)
            self._conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BomixError(f"{self.path} is not a bomix store ({str(exc).splitlines()[0]}): "
                             "is it a campaign directory?") from None

    def _tx(self):
        raise BomixError(f"{self.path} is open read-only")

    def recommendations(self) -> pd.DataFrame:
        """The recommendations table (idx, n_finished, run_id, budget_used, true_value, regret, ...)."""
        return pd.read_sql_query("SELECT * FROM recommendations ORDER BY idx", self._conn)
