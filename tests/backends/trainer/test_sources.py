"""Text sources (bomix/backends/trainer/sources.py): jsonl, parquet, saved datasets, chunking, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.trainer.prepare import PrepareConfig, prepare
from bomix.backends.trainer.shards import TokenData
from bomix.backends.trainer.sources import chunk_text, iter_documents
from bomix.errors import BomixError


def test_jsonl_parquet_and_saved_dataset(tmp_path, tiny_data):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(["alpha", "beta", "gamma", "delta"], 50)) for _ in range(40)]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"body": t}) for t in texts) + "\n")
    pq.write_table(pa.table({"body": texts[::-1]}), tmp_path / "b.parquet")
    hf = tmp_path / "saved"
    hf.mkdir()
    (hf / "dataset_info.json").write_text("{}")
    with pa.OSFile(str(hf / "data-00000-of-00001.arrow"), "wb") as f, pa.ipc.new_stream(
            f, pa.schema([("body", pa.string())])) as w:
        w.write_table(pa.table({"body": texts[:20]}))
    assert list(iter_documents(hf, "body")) == texts[:20]
    assert list(iter_documents(tmp_path / "b.parquet", "body")) == texts[::-1]
    tok_dir = TokenData(tiny_data).tokenizer_path  # reuse a tokenizer on disk
    m = prepare({"j": tmp_path / "a.jsonl", "p": tmp_path / "b.parquet", "h": hf}, tmp_path / "out",
                PrepareConfig(tokenizer=str(tok_dir), text_field="body", val_fraction=0.1))
    assert m["vocab_size"] == TokenData(tiny_data).vocab_size
    assert m["domains"]["j"]["documents"] == 40 and m["domains"]["h"]["documents"] == 20
    # same texts, other order -> same total token count
    jt = m["domains"]["j"]["train_tokens"] + m["domains"]["j"]["val_tokens"]
    pt = m["domains"]["p"]["train_tokens"] + m["domains"]["p"]["val_tokens"]
    assert jt == pt


def test_chunk_text_bounds():
    text = "\n".join("x" * 30 for _ in range(100))
    chunks = chunk_text(text, 100)
    assert "".join(chunks) == text and max(len(c) for c in chunks) <= 100
    assert chunk_text("y" * 250, 100) == ["y" * 100, "y" * 100, "y" * 50]


@pytest.mark.parametrize("case", ["empty", "latin1", "missing", "badjson", "nofield", "one"])
def test_bad_sources_one_line_errors(tmp_path, case):
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.txt").write_text("hello world\n" * 3000)
    bad = tmp_path / "bad"
    bad.mkdir()
    if case == "empty":
        (bad / "a.txt").write_text("  \n")
    elif case == "latin1":
        (bad / "a.txt").write_text("fine\n" * 50)
        (bad / "b.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    elif case == "missing":
        bad = tmp_path / "nope"
    elif case == "badjson":
        bad = tmp_path / "x.jsonl"
        bad.write_text('{"text": "ok"}\n{"text": \n')
    elif case == "nofield":
        bad = tmp_path / "x.jsonl"
        bad.write_text('{"content": "ok"}\n')
    sources = {"good": good} if case == "one" else {"good": good, "bad": bad}
    with pytest.raises(BomixError) as err:
        prepare(sources, tmp_path / "out", PrepareConfig(vocab_size=280))
    msg = str(err.value)
    assert "\n" not in msg
    expected = {"empty": "empty", "latin1": "not UTF-8", "missing": "does not exist", "badjson": "not valid JSON",
                "nofield": "no string field", "one": ">= 2 domains"}[case]
    assert expected in msg and (case == "one" or "b.txt" in msg or case != "latin1")
