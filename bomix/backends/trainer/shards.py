"""Prepared token shards (numpy memmap), as :func:`~bomix.backends.trainer.prepare.prepare` writes them
(``bomix data prepare|demo``) and the trainer reads them (:class:`TokenData`).

Layout of the prepared folder::

    manifest.json            domains (in order), token counts, tokenizer, vocab size, dtype, ids
    tokenizer/               the tokenizer (Hugging Face format, loadable with from_pretrained)
    <domain>/train.bin       training tokens, documents joined by EOS
    <domain>/val.bin         fixed validation split (whole text chunks chosen by a seeded draw)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bomix.backends.trainer.tokenizer import load_tokenizer
from bomix.errors import BomixError

MANIFEST = "manifest.json"
FORMAT = "bomix-tokens/1"


class TokenData:
    """Prepared token shards (see module docstring), opened lazily as read-only memmaps.

    Args:
        path: the folder :func:`prepare` wrote.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        mf = self.path / MANIFEST
        if not mf.exists():
            raise BomixError(f"{mf} not found: build it with `bomix data prepare` (or `bomix data demo`)")
        self.manifest = json.loads(mf.read_text())
        if self.manifest.get("format") != FORMAT:
            raise BomixError(f"{mf} is not a bomix token manifest ({FORMAT})")
        self.domains: tuple[str, ...] = tuple(self.manifest["domain_order"])
        self.vocab_size = int(self.manifest["vocab_size"])
        self.eos_id = int(self.manifest["eos_id"])
        self.pad_id = int(self.manifest.get("pad_id", self.eos_id))
        self.dtype = np.dtype(self.manifest["dtype"])
        self._maps: dict[tuple[str, str], np.memmap] = {}

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d["_maps"] = {}
        return d

    def tokens(self, split: str = "train") -> dict[str, int]:
        """Domain -> token count of ``split``."""
        return {d: int(self.manifest["domains"][d][f"{split}_tokens"]) for d in self.domains}

    def shard(self, domain: str, split: str) -> np.memmap:
        """``(n_tokens,)`` read-only memmap of one domain's split."""
        key = (domain, split)
        if key not in self._maps:
            f = self.path / domain / f"{split}.bin"
            if not f.exists():
                raise BomixError(f"{f} missing: re-run `bomix data prepare`")
            self._maps[key] = np.memmap(f, dtype=self.dtype, mode="r")
        return self._maps[key]

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.manifest.get("tokenizer", "tokenizer")

    def tokenizer(self):
        return load_tokenizer(self.tokenizer_path)
