"""``bomix data prepare``'s library: per-domain text -> per-domain token shards (:mod:`.shards` layout).

Each domain's source is read into documents (:mod:`.sources`), cut into chunks of at most
``chunk_chars`` characters at line breaks and tokenised (:mod:`.tokenizer`: a given local tokenizer or
a byte-level BPE trained here). Chunk 0 and then each chunk with probability ``val_fraction`` (until
``max_val_tokens``) go to validation, so the split is fixed by the seed and the source order.

A domain whose validation split has fewer than ``min_val_tokens`` tokens is reported (a logged
WARNING and the manifest's ``warnings``), with the fix. The default, 2500, is where the standard error
of a domain's mean per-token loss, ``sd / sqrt(n)`` with a per-token loss sd of about 2.5 nats (small
proxies near loss 5), falls to 0.05 nats: half the ~0.1-nat gap between uniform and the best mixtures
on the demo corpus (README), so a smaller split cannot rank mixtures on that domain. It also covers the
trainer's default evaluation, ``eval_sequences x (context + 1) = 16 x 129 = 2064`` tokens per domain.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bomix.backends.trainer.shards import FORMAT, MANIFEST
from bomix.backends.trainer.sources import chunk_text, iter_documents
from bomix.backends.trainer.tokenizer import load_tokenizer, train_bpe
from bomix.errors import BomixError

log = logging.getLogger(__name__)

#: Per-token loss standard deviation (nats) assumed by the small-validation warning.
TOKEN_LOSS_SD = 2.5


@dataclass
class PrepareConfig:
    """Options of :func:`prepare` (see the CLI help)."""

    vocab_size: int = 4096
    tokenizer: str | None = None
    val_fraction: float = 0.02
    max_val_tokens: int = 65536
    min_val_tokens: int = 2500
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
    if cfg.min_val_tokens < 0:
        raise BomixError(f"--min-val-tokens must be >= 0 (0: no warning), got {cfg.min_val_tokens}")
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
        "min_val_tokens": cfg.min_val_tokens,
        "warnings": small_val_warnings(domains, cfg),
        "chunk_chars": cfg.chunk_chars,
        "seed": cfg.seed,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    for msg in manifest["warnings"]:
        log.warning(msg)
    return manifest


def small_val_warnings(domains: dict[str, dict], cfg: PrepareConfig) -> list[str]:
    """One message per domain whose validation split has fewer than ``cfg.min_val_tokens`` tokens."""
    out = []
    for name, d in domains.items():
        n_val, total = d["val_tokens"], d["train_tokens"] + d["val_tokens"]
        if n_val >= cfg.min_val_tokens:
            continue
        se = TOKEN_LOSS_SD / math.sqrt(max(n_val, 1))
        need = cfg.min_val_tokens / total
        if cfg.max_val_tokens < cfg.min_val_tokens:
            fix = f"raise --max-val-tokens to at least {cfg.min_val_tokens}"
        elif need <= 0.5:
            fix = f"pass --val-fraction {min(0.5, 1.5 * need):.2g} (now {cfg.val_fraction:g}) or add text to the domain"
        else:
            fix = (f"add text to the domain: it has {total} tokens in all, too few for a "
                   f"{cfg.min_val_tokens}-token validation split next to its training data")
        out.append(f"domain {name!r}: validation split has {n_val} tokens < --min-val-tokens {cfg.min_val_tokens} "
                   f"(standard error of its mean loss ~{TOKEN_LOSS_SD:g}/sqrt({n_val}) = {se:.2f} nats, more than "
                   f"the ~0.05-0.1 nats mixtures differ by): {fix}")
    return out


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
