"""Data preparation (bomix/backends/trainer/prepare.py): token shards, fixed validation split, manifest,
the prepared folder read back (TokenData), `bomix data prepare|demo`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.trainer.prepare import PrepareConfig, prepare
from bomix.backends.trainer.shards import TokenData
from bomix.cli.data import cli_main
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


def test_data_demo_command_builds_a_dataset_and_rebuilds_it(tmp_path):
    """`bomix data demo --out DIR` (the README's command) tokenises into DIR, and running it again replaces it."""
    from bomix.backends.trainer.shards import MANIFEST
    from bomix.cli.data import cli_main as data_main

    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--domains", "code,manpages", "--mb", "0.2", "--vocab-size", "300"]
    assert data_main(args) == 0
    assert (out / MANIFEST).is_file() and (out / "code" / "train.bin").stat().st_size > 0
    assert data_main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary text left behind


def test_small_validation_split_warns_with_the_fix(tmp_path, caplog):
    sources = write_text_corpus(tmp_path / "text", n_files=2)
    cfg = PrepareConfig(vocab_size=280, val_fraction=0.01, chunk_chars=400, min_val_tokens=5000)
    with caplog.at_level("WARNING", logger="bomix.backends.trainer.prepare"):
        m = prepare(sources, tmp_path / "o", cfg)
    small = [d for d, v in m["domains"].items() if v["val_tokens"] < 5000]
    assert small == list(m["domain_order"])  # ~1 chunk each
    assert len(m["warnings"]) == len(small)
    for d, msg in zip(small, m["warnings"]):
        assert f"domain {d!r}" in msg and f"{m['domains'][d]['val_tokens']} tokens" in msg
        assert "--val-fraction" in msg or "add text" in msg
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert logged == m["warnings"]
    saved = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert saved["warnings"] == m["warnings"] and saved["min_val_tokens"] == 5000


def test_small_validation_split_fixes():
    from bomix.backends.trainer.prepare import small_val_warnings

    doms = {"a": {"train_tokens": 99_000, "val_tokens": 1000}, "b": {"train_tokens": 3000, "val_tokens": 1000},
            "c": {"train_tokens": 50_000, "val_tokens": 3000}}
    w = small_val_warnings(doms, PrepareConfig())  # default threshold 2500
    assert len(w) == 2
    assert "--val-fraction 0.038" in w[0] and "0.08 nats" in w[0]  # 1.5 x 2500/100000; 2.5/sqrt(1000)
    assert "add text to the domain" in w[1] and "--val-fraction" not in w[1]  # needs > half of 4000 tokens
    assert "--max-val-tokens" in small_val_warnings(doms, PrepareConfig(max_val_tokens=2000))[0]
    assert small_val_warnings(doms, PrepareConfig(min_val_tokens=0)) == []


def test_min_val_tokens_must_be_non_negative(tmp_path):
    sources = write_text_corpus(tmp_path / "text", n_files=1)
    with pytest.raises(BomixError, match="min-val-tokens"):
        prepare(sources, tmp_path / "o", PrepareConfig(vocab_size=280, min_val_tokens=-1))
