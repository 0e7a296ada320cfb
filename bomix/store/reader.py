"""The read-only store (bench, export, ``bomix show``)."""

from __future__ import annotations

from pathlib import Path

from bomix.errors import BomixError
from bomix.layout import CampaignLayout
from bomix.store.schema import open_store
from bomix.store.writer import Store


class StoreReader(Store):
    """A store opened read-only (``mode=ro``): for bench, export and ``show``; never writes or creates.

    On a read-only file system it is opened ``immutable`` (SQLite cannot create the ``-shm`` file there,
    and nobody can write the store).

    Raises:
        BomixError: no store in ``directory``, not a readable bomix store, damaged, or an I/O error.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = CampaignLayout(self.directory).store
        self._conn = open_store(self.path, read_only=True)
        self._checked_open(set())  # each table is checked before it is first read

    def _tx(self):
        raise BomixError(f"{self.path} is open read-only")
