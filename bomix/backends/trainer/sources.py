"""One domain's text source -> its documents, and documents -> chunks (the input of ``bomix data prepare``).

Sources per domain: a folder of text files (recursively; ``.jsonl``/``.parquet``/``.arrow`` files
inside are read as records), one ``.jsonl`` / ``.parquet`` / text file, or a Hugging Face dataset
saved on disk (``save_to_disk``: a folder with ``dataset_info.json`` / ``state.json`` and
``*.arrow`` files, read with pyarrow). Text is cut into chunks of at most ``chunk_chars``
characters at line breaks (:func:`chunk_text`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from bomix.errors import BomixError

RECORD_SUFFIXES = {".jsonl", ".json", ".parquet", ".arrow"}
SKIP_NAMES = {"dataset_info.json", "state.json", "dataset_dict.json"}


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BomixError(
            f"{where} is not UTF-8 text (bad byte at offset {exc.start}): convert it "
            "(iconv -t UTF-8) or remove it from the source") from None


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BomixError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise BomixError(f"cannot decompress {path}: {exc}") from None
    return raw


def jsonl_records(text: str, where: str | Path) -> Iterator[tuple[int, object]]:
    """``(line number, parsed record)`` of each non-blank line of a JSONL text (the one JSONL reader).

    Raises:
        BomixError: a line that is not JSON, naming ``where:line``.
    """
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as exc:
            raise BomixError(f"{where}:{i}: not valid JSON ({exc.msg}): fix the line or remove it") from None


def _records_jsonl(path: Path, field: str) -> Iterator[str]:
    for i, rec in jsonl_records(_decode(_read_bytes(path), str(path)), path):
        if not isinstance(rec, dict) or not isinstance(rec.get(field), str):
            raise BomixError(f"{path}:{i}: record has no string field {field!r}: set --text-field")
        yield rec[field]


def _records_table(table, path: Path, field: str) -> Iterator[str]:
    if field not in table.column_names:
        raise BomixError(f"{path} has no column {field!r} (columns: {table.column_names}): set --text-field")
    for value in table.column(field).to_pylist():
        if value is not None:
            yield str(value)


def _records_parquet(path: Path, field: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=None)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
        raise BomixError(f"cannot read parquet file {path}: {str(exc).splitlines()[0]}") from None
    yield from _records_table(table, path, field)


def _records_arrow(path: Path, field: str) -> Iterator[str]:
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as src:
            try:
                table = pa.ipc.open_stream(src).read_all()
            except pa.ArrowInvalid:
                src.seek(0)
                table = pa.ipc.open_file(src).read_all()
    except Exception as exc:  # noqa: BLE001
        raise BomixError(f"cannot read arrow file {path}: {str(exc).splitlines()[0]}") from None
    yield from _records_table(table, path, field)


def _iter_file(path: Path, field: str) -> Iterator[str]:
    suffix = path.suffix if path.suffix != ".gz" else Path(path.stem).suffix
    if suffix in (".jsonl", ".json"):
        yield from _records_jsonl(path, field)
    elif suffix == ".parquet":
        yield from _records_parquet(path, field)
    elif suffix == ".arrow":
        yield from _records_arrow(path, field)
    else:
        yield _decode(_read_bytes(path), str(path))


def iter_documents(source: str | Path, text_field: str = "text") -> Iterator[str]:
    """Yield the documents of one domain's source (see module docstring), in a fixed order."""
    path = Path(source).expanduser()
    if not path.exists():
        raise BomixError(f"source {path} does not exist: give a folder, .jsonl, .parquet or text file")
    if path.is_file():
        yield from _iter_file(path, text_field)
        return
    is_hf = (path / "dataset_info.json").exists() or (path / "state.json").exists()
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))
    if is_hf:
        files = [p for p in files if p.suffix == ".arrow"]
        if not files:
            raise BomixError(f"{path} looks like a saved dataset but has no .arrow files")
    for p in files:
        if p.name in SKIP_NAMES:
            continue
        yield from _iter_file(p, text_field)


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut ``text`` into pieces of at most ~``chunk_chars`` characters at line breaks."""
    if len(text) <= chunk_chars:
        return [text] if text.strip() else []
    out, cur, size = [], [], 0
    for line in text.splitlines(keepends=True):
        while len(line) > chunk_chars:  # one enormous line
            if cur:
                out.append("".join(cur))
                cur, size = [], 0
            out.append(line[:chunk_chars])
            line = line[chunk_chars:]
        if size + len(line) > chunk_chars and cur:
            out.append("".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += len(line)
    if cur:
        out.append("".join(cur))
    return [c for c in out if c.strip()]
