"""bomix.layout is the one module that knows the campaign directory's file names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bomix.layout import STORE_FILE, SUMMARY_FILE, CampaignLayout, write_json_atomic, write_text_atomic

PKG = Path(__file__).resolve().parent.parent / "bomix"


def test_no_other_module_hard_codes_the_file_names():
    names = {STORE_FILE, SUMMARY_FILE}
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.name == "layout.py" and path.parent == PKG:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings:
                offenders.append(f"{path.relative_to(PKG.parent)}:{node.lineno}")
    assert not offenders, f"use bomix.layout instead of literal file names: {offenders}"


def test_layout_paths(tmp_path):
    lay = CampaignLayout(tmp_path)
    assert lay.store == tmp_path / STORE_FILE and lay.summary == tmp_path / SUMMARY_FILE
    assert lay.lock.parent == tmp_path and lay.checkpoints.parent == tmp_path
    assert not any(tmp_path.iterdir())  # constructing it creates nothing


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"a": 1})
    import bomix.layout as layout

    def boom(src, dst):
        raise KeyboardInterrupt  # killed between writing the temporary and renaming it

    monkeypatch.setattr(layout.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "{partial")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # temporary removed


# ----- never write through a symbolic link ----------------------------------------------------------
def test_write_text_atomic_refuses_a_symlink_and_keeps_its_target(tmp_path):
    from bomix.errors import BomixError

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "summary.json").symlink_to(victim)
    with pytest.raises(BomixError, match="is a symbolic link"):
        write_text_atomic(tmp_path / "summary.json", "x")
    assert victim.read_text() == "keep me" and (tmp_path / "summary.json").is_symlink()


@pytest.mark.parametrize("name", ["lock", "store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "summary.json"])
def test_check_files_refuses_each_campaign_file_as_a_symlink(tmp_path, name):
    from bomix.errors import BomixError

    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / name).symlink_to(victim)
    with pytest.raises(BomixError, match=f"{name} is a symbolic link"):
        CampaignLayout(tmp_path).check_files()
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("name", ["store.sqlite", "store.sqlite-wal", "store.sqlite-shm"])
def test_a_store_is_never_opened_for_writing_through_a_symlink(tmp_path, name):
    from bomix.errors import BomixError
    from bomix.store import Store

    victim = tmp_path / "victim"
    victim.write_text("keep me")
    camp = tmp_path / "camp"
    camp.mkdir()
    (camp / name).symlink_to(victim)
    with pytest.raises(BomixError, match=f"{name} is a symbolic link"):
        Store(camp)
    assert victim.read_text() == "keep me"


def test_a_full_disk_is_one_line_and_keeps_the_earlier_file(tmp_path, monkeypatch):
    import errno
    import os as _os

    from bomix.errors import BomixError

    target = tmp_path / "summary.json"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_os, "fsync", full)
    with pytest.raises(BomixError, match=r"No space left on device\): free space"):
        write_text_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]
