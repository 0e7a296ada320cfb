"""Issue 26: `bomix data demo` without the trainer extra gave a raw ModuleNotFoundError traceback."""

from __future__ import annotations

import sys

import pytest

from bomix.cli import main
from bomix.extras import MissingExtra


@pytest.mark.parametrize("module", ["tokenizers", "transformers"])
def test_data_demo_without_the_trainer_extra_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    out = tmp_path / "data" / "demo"
    assert main(["data", "demo", "--out", str(out), "--mb", "0.05"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"bomix: error: bomix data demo needs {module}: pip install 'bomix[trainer]'"
    assert not (tmp_path / "data").exists()  # nothing written


def test_text_only_needs_no_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    monkeypatch.setitem(sys.modules, "transformers", None)
    assert main(["data", "demo", "--out", str(tmp_path / "demo"), "--mb", "0.01", "--text-only",
                 "--domains", "legal"]) == 0


def test_the_library_path_names_the_extra_too(tmp_path, monkeypatch):
    from bomix.backends.trainer.tokenizer import load_tokenizer, train_bpe

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(MissingExtra, match=r"needs tokenizers: pip install 'bomix\[trainer\]'"):
        train_bpe(iter(["a b c"]), 300, tmp_path / "tok")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtra, match=r"needs transformers: pip install 'bomix\[trainer\]'"):
        load_tokenizer(tmp_path)
