"""`bomix data prepare|demo`: per-domain text -> per-domain token shards (numpy memmap).

Layout written by :func:`prepare` into ``out/``::

    manifest.json            domains (in order), token counts, tokenizer, vocab size, dtype, ids
    tokenizer/               the tokenizer (Hugging Face format, loadable with from_pretrained)
    <domain>/train.bin       training tokens, documents joined by EOS
    <domain>/val.bin         fixed validation split (whole text chunks chosen by a seeded draw)

Sources per domain: a folder of text files (recursively; ``.jsonl``/``.parquet``/``.arrow`` files
inside are read as records), one ``.jsonl`` / ``.parquet`` / text file, or a Hugging Face dataset
saved on disk (``save_to_disk``: a folder with ``dataset_info.json`` / ``state.json`` and
``*.arrow`` files, read with pyarrow). Text is cut into chunks of at most ``chunk_chars``
characters at line breaks; chunk 0 and then each chunk with probability ``val_fraction`` (until
``max_val_tokens``) go to validation, so the split is fixed by the seed and the source order.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bomix.errors import BomixError

MANIFEST = "manifest.json"
FORMAT = "bomix-tokens/1"
EOS = "<|endoftext|>"
PAD = "<|pad|>"
RECORD_SUFFIXES = {".jsonl", ".json", ".parquet", ".arrow"}
SKIP_NAMES = {"dataset_info.json", "state.json", "dataset_dict.json"}


# ----- reading sources -----------------------------------------------------------------------
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


def _records_jsonl(path: Path, field: str) -> Iterator[str]:
    text = _decode(_read_bytes(path), str(path))
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BomixError(f"{path}:{i}: not valid JSON ({exc.msg}): fix the line or remove it") from None
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


# ----- tokenizers ----------------------------------------------------------------------------
def train_bpe(texts: Iterator[str], vocab_size: int, out_dir: Path):
    """Train a byte-level BPE with ``tokenizers`` and save it (HF format) to ``out_dir``.

    Returns the ``PreTrainedTokenizerFast`` (EOS ``<|endoftext|>``, PAD ``<|pad|>``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 260:
        raise BomixError(f"--vocab-size {vocab_size} is too small for a byte-level BPE: use >= 260")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    # In transformers 5, GPT2TokenizerFast(vocab_file=...) silently builds an empty tokenizer.
    fast = PreTrainedTokenizerFast(tokenizer_file=str(out_dir / "tokenizer.json"), eos_token=EOS,
                                   bos_token=EOS, pad_token=PAD, unk_token=None)
    fast.save_pretrained(str(out_dir))
    return fast


def load_tokenizer(path: str | Path):
    """A local Hugging Face tokenizer: a folder (``from_pretrained``) or a ``tokenizer.json`` file."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = Path(path).expanduser()
    if not p.exists():
        raise BomixError(f"tokenizer {p} not found: give a local tokenizer folder or tokenizer.json")
    try:
        if p.is_file():
            tok = PreTrainedTokenizerFast(tokenizer_file=str(p))
        else:
            tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise BomixError(f"cannot load tokenizer {p}: {str(exc).splitlines()[0]}") from None
    if len(tok) == 0:
        raise BomixError(f"tokenizer {p} is empty: give a tokenizer.json or a full tokenizer folder")
    if tok.eos_token_id is None:
        if EOS in tok.get_vocab():
            tok.eos_token = EOS
        else:
            raise BomixError(f"tokenizer {p} has no EOS token: set eos_token in its tokenizer_config.json")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


# ----- prepare -------------------------------------------------------------------------------
@dataclass
class PrepareConfig:
    """Options of :func:`prepare` (see the CLI help)."""

    vocab_size: int = 4096
    tokenizer: str | None = None
    val_fraction: float = 0.02
    max_val_tokens: int = 65536
    chunk_chars: int = 4000
    max_bytes: int | None = None
    tokenizer_bytes: int = 4_000_000
    text_field: str = "text"
    seed: int = 0


def _limited(docs: Iterator[str], max_bytes: int | None) -> Iterator[str]:
    used = 0
    for d in docs:
        if max_bytes is not None and used >= max_bytes:
            return
        if max_bytes is not None and used + len(d) > max_bytes:
            d = d[: max_bytes - used]
        used += len(d)
        yield d


def prepare(sources: dict[str, str | Path], out: str | Path, cfg: PrepareConfig | None = None) -> dict:
    """Tokenise each domain's source into ``out/<domain>/{train,val}.bin``; returns the manifest.

    The dataset is built in a temporary sibling folder and renamed to ``out`` only when complete:
    a failure (an empty domain, a kill) leaves an earlier dataset at ``out`` untouched. An existing
    ``out`` must be empty or an earlier prepared dataset (it is replaced), never another folder.

    Args:
        sources: domain name -> source path (the mixture order is this order).
        out: output folder.
        cfg: options.

    Raises:
        BomixError: a missing, unreadable, non-UTF-8 or empty source, or a bad option.
    """
    import shutil
    import tempfile

    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise BomixError(f"{out} exists and is not a prepared dataset: choose a new or empty --out folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise BomixError(f"cannot create a folder next to {out}: {exc.strerror}") from None
    try:
        manifest = _build(sources, tmp, cfg)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.replace(old / "data")
        tmp.replace(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _build(sources: dict[str, str | Path], out: Path, cfg: PrepareConfig | None) -> dict:
    """The body of :func:`prepare`, writing into the (temporary) folder ``out``."""
    cfg = cfg or PrepareConfig()
    if len(sources) < 2:
        raise BomixError(f"need >= 2 domains, got {list(sources)}: pass --domain NAME=PATH for each")
    for name in sources:
        if not name or "/" in name or name.startswith(".") or name != name.strip():
            raise BomixError(f"bad domain name {name!r}: use letters, digits, _ or -")
    if not 0 <= cfg.val_fraction < 1:
        raise BomixError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}")
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    tok_dir = out / "tokenizer"

    def docs(src) -> Iterator[str]:
        return _limited(iter_documents(src, cfg.text_field), cfg.max_bytes)

    if cfg.tokenizer:
        tok = load_tokenizer(cfg.tokenizer)
        tok.save_pretrained(str(tok_dir))
        tok_desc = str(cfg.tokenizer)
    else:
        def sample() -> Iterator[str]:
            for src in sources.values():
                yield from _limited(docs(src), cfg.tokenizer_bytes)

        tok = train_bpe(sample(), cfg.vocab_size, tok_dir)
        tok_desc = f"byte-level BPE trained here (vocab {cfg.vocab_size})"
    vocab = len(tok)
    dtype = np.uint16 if vocab <= 65535 else np.uint32
    eos = int(tok.eos_token_id)
    domains = {}
    for name, src in sources.items():
        domains[name] = _tokenize_domain(name, docs(src), tok, eos, dtype, out / name, cfg)
        domains[name]["source"] = str(src)
    manifest = {
        "format": FORMAT,
        "domain_order": list(sources),
        "domains": domains,
        "tokenizer": "tokenizer",
        "tokenizer_source": tok_desc,
        "vocab_size": int(vocab),
        "dtype": np.dtype(dtype).name,
        "eos_id": eos,
        "pad_id": int(tok.pad_token_id if tok.pad_token_id is not None else eos),
        "val_fraction": cfg.val_fraction,
        "max_val_tokens": cfg.max_val_tokens,
        "chunk_chars": cfg.chunk_chars,
        "seed": cfg.seed,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _tokenize_domain(name: str, docs: Iterator[str], tok, eos: int, dtype, folder: Path,
                     cfg: PrepareConfig) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([cfg.seed, int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")])
    counts = {"train": 0, "val": 0}
    n_docs = n_chunks = n_bytes = 0
    batch: list[str] = []
    with open(folder / "train.bin", "wb") as f_train, open(folder / "val.bin", "wb") as f_val:
        def flush() -> None:
            nonlocal n_chunks
            if not batch:
                return
            ids = tok(batch, add_special_tokens=False)["input_ids"]
            for toks in ids:
                arr = np.asarray(list(toks) + [eos], dtype=dtype)
                to_val = n_chunks == 0 or (
                    counts["val"] < cfg.max_val_tokens and rng.random() < cfg.val_fraction)
                split = "val" if to_val else "train"
                (f_val if to_val else f_train).write(arr.tobytes())
                counts[split] += arr.size
                n_chunks += 1
            batch.clear()

        for doc in docs:
            n_docs += 1
            n_bytes += len(doc.encode("utf-8"))
            batch.extend(chunk_text(doc, cfg.chunk_chars))
            if len(batch) >= 256:
                flush()
        flush()
    if n_chunks == 0:
        raise BomixError(f"domain {name!r} is empty (no text found in its source): check the path")
    if counts["train"] == 0:
        raise BomixError(f"domain {name!r} has too little text ({n_chunks} chunks) for a train/validation "
                         "split: add text to it")
    return {"train_tokens": counts["train"], "val_tokens": counts["val"], "documents": n_docs,
            "chunks": n_chunks, "bytes": n_bytes}


# ----- reading prepared data -----------------------------------------------------------------
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


# ----- CLI -----------------------------------------------------------------------------------
def _parse_domains(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise BomixError(f"--domain {item!r}: write NAME=PATH")
        name, path = item.split("=", 1)
        if name in out:
            raise BomixError(f"domain {name!r} given twice")
        out[name.strip()] = path
    return out


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bomix data", description="prepare token shards / build the demo corpus")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="tokenise per-domain text into token shards")
    p.add_argument("--domain", "-d", action="append", default=[], metavar="NAME=PATH",
                   help="a domain and its source (folder of text files, .jsonl, .parquet, saved dataset)")
    p.add_argument("--out", "-o", required=True, help="output folder")
    _common(p)
    d = sub.add_parser("demo", help="build the offline demo corpus (text from this machine) and prepare it")
    d.add_argument("--out", "-o", default="data/demo", help="output folder (default data/demo)")
    d.add_argument("--mb", type=float, default=3.0, help="megabytes of text per domain (default 3)")
    d.add_argument("--domains", default=None, help="comma-separated subset of the demo domains")
    d.add_argument("--text-only", action="store_true", help="only write the text, do not tokenise")
    _common(d)
    return ap


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", default=None, help="local HF tokenizer folder or tokenizer.json")
    p.add_argument("--vocab-size", type=int, default=4096, help="vocab of the BPE trained when no --tokenizer")
    p.add_argument("--val-fraction", type=float, default=0.02)
    p.add_argument("--max-val-tokens", type=int, default=65536)
    p.add_argument("--max-mb", type=float, default=None, help="cap on text read per domain (MB)")
    p.add_argument("--text-field", default="text", help="field/column holding the text in records")
    p.add_argument("--seed", type=int, default=0)


def cli_main(argv: list[str]) -> int:
    """``bomix data prepare|demo``; returns an exit code (BomixError for bad input)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = _parser().parse_args(argv)
    cfg = PrepareConfig(vocab_size=args.vocab_size, tokenizer=args.tokenizer, val_fraction=args.val_fraction,
                        max_val_tokens=args.max_val_tokens, text_field=args.text_field, seed=args.seed,
                        max_bytes=None if args.max_mb is None else int(args.max_mb * 1e6))
    if args.cmd == "prepare":
        manifest = prepare(_parse_domains(args.domain), args.out, cfg)
    else:
        from bomix.backends.trainer.corpus import build_demo_corpus

        names = args.domains.split(",") if args.domains else None
        sources = build_demo_corpus(Path(args.out) / "text", mb=args.mb, domains=names)
        if args.text_only:
            print(json.dumps({d: str(p) for d, p in sources.items()}, indent=2))
            return 0
        manifest = prepare(sources, args.out, cfg)
    summary = {d: v["train_tokens"] for d, v in manifest["domains"].items()}
    print(json.dumps({"out": str(args.out), "vocab_size": manifest["vocab_size"], "train_tokens": summary}, indent=2))
    return 0
