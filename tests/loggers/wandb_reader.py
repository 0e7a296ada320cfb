"""Read the history rows of an offline W&B run file (``run-*.wandb``) back, for the tests.

The file is a LevelDB-style log (7-byte file header ``:W&B`` + magic + version, then 32 KiB blocks of
records ``crc32 (4) | length (2) | type (1) | data``, type FULL=1 FIRST=2 MIDDLE=3 LAST=4) of
protobuf ``Record`` messages; W&B 0.31 ships no Python reader.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
FILE_HEADER = 7
RECORD_HEADER = 7


def records(path: Path) -> list[bytes]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    out, part, pos = [], b"", FILE_HEADER
    while pos + RECORD_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + RECORD_HEADER])
        pos += RECORD_HEADER
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 0 and length == 0:
            continue
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            part = chunk
        elif kind == 3:
            part += chunk
        elif kind == 4:
            out.append(part + chunk)
    return out


def history(path: Path) -> list[dict]:
    """Every logged row as ``{key: value}``."""
    from wandb.proto import wandb_internal_pb2 as pb

    rows = []
    for raw in records(path):
        r = pb.Record()
        r.ParseFromString(raw)
        if r.WhichOneof("record_type") == "history":
            rows.append({(it.key or "/".join(it.nested_key)): json.loads(it.value_json) for it in r.history.item})
    return rows
