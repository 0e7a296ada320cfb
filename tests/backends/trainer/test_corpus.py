"""Offline demo corpus: roff stripping, domain folders from this machine's files, errors."""

from __future__ import annotations

import json

import pytest

from bomix.backends.trainer import corpus
from bomix.backends.trainer.corpus import build_demo_corpus, strip_roff
from bomix.errors import BomixError


def test_strip_roff():
    page = '.\\" comment\n.TH LS 1\n.SH NAME\nls \\- list \\fBdirectory\\fR contents\n.PP\n.B \\-a\nshow all\n.nf\n'
    text = strip_roff(page)
    assert "comment" not in text and "\\f" not in text and ".PP" not in text
    assert "NAME" in text and "ls - list directory contents" in text and "-a" in text


def test_disk_domains(tmp_path):
    if not corpus._code_files():
        pytest.skip("no Python stdlib sources on this machine")
    out = build_demo_corpus(tmp_path, mb=0.05, domains=["code"])
    files = sorted(out["code"].glob("part-*.jsonl"))
    texts = [json.loads(line)["text"] for f in files for line in f.read_text().splitlines()]
    size = sum(len(t.encode()) for t in texts)
    assert 0.95 * 0.05e6 <= size <= 0.05e6 + 10 and any("def " in t for t in texts)
    again = build_demo_corpus(tmp_path / "b", mb=0.05, domains=["code"])
    assert (again["code"] / "part-0000.jsonl").read_text() == files[0].read_text()  # seeded file order


def test_errors(tmp_path, monkeypatch):
    with pytest.raises(BomixError, match="unknown demo domain"):
        build_demo_corpus(tmp_path, domains=["wikipedia"])
    monkeypatch.setattr(corpus, "_legal_files", lambda: [])
    with pytest.raises(BomixError, match="found only"):
        build_demo_corpus(tmp_path, mb=1, domains=["legal"])
