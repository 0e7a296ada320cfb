"""The ``bomix data prepare|demo`` command: argument parsing and printing.

The library it calls: :mod:`bomix.backends.trainer.prepare` (text -> token shards),
:mod:`bomix.backends.trainer.corpus` (the offline demo corpus).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from bomix.backends.trainer.prepare import PrepareConfig, prepare
from bomix.errors import BomixError


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
    p.add_argument("--min-val-tokens", type=int, default=2500,
                   help="warn when a domain's validation split is smaller (default 2500: SE of its mean loss "
                        "~0.05 nats; 0: never)")
    p.add_argument("--max-mb", type=float, default=None, help="cap on text read per domain (MB)")
    p.add_argument("--text-field", default="text", help="field/column holding the text in records")
    p.add_argument("--seed", type=int, default=0)


def cli_main(argv: list[str]) -> int:
    """``bomix data prepare|demo``; returns an exit code (BomixError for bad input)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = _parser().parse_args(argv)
    if args.cmd == "prepare" or not args.text_only:  # tokenising needs the trainer extra: say so before any work
        from bomix.extras import require

        for module in ("tokenizers", "transformers"):
            require(module, "trainer", f"bomix data {args.cmd}")
    cfg = PrepareConfig(vocab_size=args.vocab_size, tokenizer=args.tokenizer, val_fraction=args.val_fraction,
                        max_val_tokens=args.max_val_tokens, min_val_tokens=args.min_val_tokens, text_field=args.text_field, seed=args.seed,
                        max_bytes=None if args.max_mb is None else int(args.max_mb * 1e6))
    if args.cmd == "prepare":
        manifest = prepare(_parse_domains(args.domain), args.out, cfg)
    else:
        from bomix.backends.trainer.corpus import build_demo_corpus

        names = args.domains.split(",") if args.domains else None
        out = Path(args.out).expanduser()
        if args.text_only:
            sources = build_demo_corpus(out / "text", mb=args.mb, domains=names)
            print(json.dumps({d: str(p) for d, p in sources.items()}, indent=2))
            return 0
        # the text goes to a temporary sibling: `prepare` replaces `out` whole (atomically)
        import tempfile

        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.text-", dir=out.parent) as text:
            sources = build_demo_corpus(text, mb=args.mb, domains=names)
            manifest = prepare(sources, out, cfg)
    summary = {d: v["train_tokens"] for d, v in manifest["domains"].items()}
    val = {d: v["val_tokens"] for d, v in manifest["domains"].items()}
    printed = {"out": str(args.out), "vocab_size": manifest["vocab_size"], "train_tokens": summary, "val_tokens": val}
    if manifest.get("warnings"):
        printed["warnings"] = manifest["warnings"]
    print(json.dumps(printed, indent=2))
    return 0
