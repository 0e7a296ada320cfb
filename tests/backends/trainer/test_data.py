"""Data preparation: sources, token shards, fixed validation split, manifest, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.trainer.data import PrepareConfig, TokenData, chunk_text, cli_main, iter_documents, prepare
from bomix.errors import BomixError

from .conftest import write_text_corpus


def test_prepare_writes_shards_and_counts(tiny_data):
    data = TokenData(tiny_data)
    assert data.domains == ("prose", "code", "digits")
    assert data.vocab_size <= 300 and data.dtype == np.uint16
    for d in data.domains:
        train, val = data.shard(d, "train"), data.shard(d, "val")
        assert len(train) == data.tokens("train")[d] > 0
        assert len(val) == data.tokens("val")[d] > 0
        assert train.max() < data.vocab_size
        assert int(np.sum(train == data.eos_id)) >= 1  # chunks end with EOS
    tok = data.tokenizer()
    text = "the cat sat on the mat"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_domains_tokenise_differently(tiny_data):
    data = TokenData(tiny_data)
    hist = {d: np.bincount(data.shard(d, "train"), minlength=data.vocab_size) for d in data.domains}
    # the digits domain uses tokens the prose domain never does
    assert np.sum((hist["digits"] > 0) & (hist["prose"] == 0)) > 5


def test_split_is_fixed_and_reproducible(tmp_path, tiny_data):
    sources = write_text_corpus(tmp_path / "text")
    cfg = PrepareConfig(vocab_size=300, val_fraction=0.2, chunk_chars=400)
    m = prepare(sources, tmp_path / "a", cfg)
    data = TokenData(tiny_data)
    for d in m["domain_order"]:
        a = np.fromfile(tmp_path / "a" / d / "val.bin", dtype=np.uint16)
        np.testing.assert_array_equal(a, np.asarray(data.shard(d, "val")))
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["domains"]["code"]["train_tokens"] == m["domains"]["code"]["train_tokens"]
    assert manifest["tokenizer_source"].startswith("byte-level BPE")


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


def test_cli_prepare(tmp_path, capsys):
    sources = write_text_corpus(tmp_path / "text", n_files=2)
    argv = ["prepare", "--out", str(tmp_path / "o"), "--vocab-size", "280", "--val-fraction", "0.2"]
    for d, p in sources.items():
        argv += ["--domain", f"{d}={p}"]
    assert cli_main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["train_tokens"]) == set(sources)
    with pytest.raises(BomixError, match="NAME=PATH"):
        cli_main(["prepare", "--out", str(tmp_path / "o2"), "--domain", "nopath"])


def test_token_data_errors(tmp_path):
    with pytest.raises(BomixError, match="bomix data prepare"):
        TokenData(tmp_path)


def test_failed_prepare_leaves_the_old_dataset_untouched(tmp_path):
    sources = write_text_corpus(tmp_path / "text")
    cfg = PrepareConfig(vocab_size=280, val_fraction=0.2, chunk_chars=400)
    out = tmp_path / "tokens"
    prepare(sources, out, cfg)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BomixError, match="empty"):
        prepare({**sources, "nothing": empty}, out, cfg)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # tokenizer, shards and manifest as they were
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "text", "tokens"]  # no temporary left
    m = prepare(dict(list(sources.items())[:2]), out, cfg)  # a successful re-prepare replaces it
    assert list(TokenData(out).domains) == m["domain_order"] and sorted(p.name for p in tmp_path.iterdir()) == [
        "empty", "text", "tokens"]


def test_prepare_refuses_to_replace_a_folder_that_is_not_a_dataset(tmp_path):
    sources = write_text_corpus(tmp_path / "text")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(BomixError, match="not a prepared dataset"):
        prepare(sources, tmp_path / "mine", PrepareConfig(vocab_size=280))
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
