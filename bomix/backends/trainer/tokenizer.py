"""Tokenizers of prepared data: train a byte-level BPE here, or load a local Hugging Face tokenizer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bomix.errors import BomixError

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def train_bpe(texts: Iterator[str], vocab_size: int, out_dir: Path):
    """Train a byte-level BPE with ``tokenizers`` and save it (HF format) to ``out_dir``.

    Returns the ``PreTrainedTokenizerFast`` (EOS ``<|endoftext|>``, PAD ``<|pad|>``).
    """
    from bomix.extras import require

    require("tokenizers", "trainer", "training a tokenizer")
    require("transformers", "trainer", "training a tokenizer")
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
    from bomix.extras import require

    require("transformers", "trainer", "loading a tokenizer")
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
