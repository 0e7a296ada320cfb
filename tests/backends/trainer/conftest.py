"""Tiny prepared corpora and a tiny ladder for the trainer tests (seconds on one CPU thread)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from bomix.backends.trainer.prepare import PrepareConfig, prepare  # noqa: E402

TINY_LADDER = {
    "s": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32},
    "m": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
}

WORDS = {
    "prose": "the a cat dog sat on mat ran far away and then slept under tree house river bank".split(),
    "code": "def return if else for in range import self x y z ( ) : = + - [ ] print".split(),
    "digits": "0 1 2 3 4 5 6 7 8 9 , . + - * / = 10 100 1000".split(),
}


def write_text_corpus(root, n_files: int = 6, words_per_file: int = 1500, seed: int = 0) -> dict[str, str]:
    """Folders of text files, one per domain, each with its own word distribution."""
    rng = np.random.default_rng(seed)
    out = {}
    for dom, words in WORDS.items():
        folder = root / dom
        folder.mkdir(parents=True)
        for i in range(n_files):
            lines = [" ".join(rng.choice(words, size=12)) for _ in range(words_per_file // 12)]
            (folder / f"f{i}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[dom] = str(folder)
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A prepared three-domain corpus (vocab 300)."""
    root = tmp_path_factory.mktemp("corpus")
    sources = write_text_corpus(root / "text")
    prepare(sources, root / "tokens", PrepareConfig(vocab_size=300, val_fraction=0.2, chunk_chars=400))
    return root / "tokens"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
