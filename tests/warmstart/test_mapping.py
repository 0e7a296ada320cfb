"""The declared domain mapping: parsing, every refusal, and the arithmetic of rename/split/merge/add/remove."""

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.warmstart import WarmStartConfig

OLD = ["web", "code", "books", "wiki"]


def cfg(**kw) -> WarmStartConfig:
    return WarmStartConfig.parse({"dirs": ["runs/old"], **kw})


def test_off_values_parse_to_none():
    for v in (None, False, [], ""):
        assert WarmStartConfig.parse(v) is None


def test_directory_list_is_identity():
    c = WarmStartConfig.parse(["a", "b"])
    assert c.dirs == ("a", "b")
    M, removed = c.matrix(OLD, OLD)
    assert np.array_equal(M, np.eye(4)) and not removed.any()


def test_split_merge_rename_add_arithmetic():
    new = ["web2", "py", "js", "text", "math"]
    c = cfg(rename={"web": "web2"}, split={"code": {"py": 0.7, "js": 0.3}}, merge={"text": ["books", "wiki"]},
            add=["math"])
    M, removed = c.matrix(OLD, new)
    w_old = np.array([0.1, 0.4, 0.2, 0.3])
    np.testing.assert_allclose(M @ w_old, [0.1, 0.28, 0.12, 0.5, 0.0])
    assert not removed.any()
    np.testing.assert_allclose(M.sum(0), 1.0)  # every old weight lands somewhere


def test_removed_domain_has_zero_column():
    c = cfg(remove=["wiki"])
    M, removed = c.matrix(OLD, OLD[:3])
    assert removed.tolist() == [False, False, False, True]
    assert not M[:, 3].any()


@pytest.mark.parametrize("kw, match", [
    ({"split": {"code": {"py": 0.6, "js": 0.3}}}, r"shares sum to 0\.9, not 1"),
    ({"split": {"code": {"py": -0.5, "js": 1.5}}}, "share must be a number >= 0"),
    ({"split": {"code": {"py": 1.0}}}, "two or more new parts"),
    ({"rename": {"nope": "web"}}, "unknown old domain 'nope'"),
    ({"split": {"code": {"py": 0.5, "rust": 0.5}}}, "unknown new domain 'rust'"),
    ({"merge": {"text": ["books", "wiki"]}, "rename": {"books": "text"}}, "mapped twice"),
    ({"add": ["code"]}, "also receives old weight"),
    ({"remove": ["ghost"]}, "unknown old domain 'ghost'"),
])
def test_wrong_mapping_is_one_line(kw, match):
    new = ["web", "code", "py", "js", "books", "wiki", "text"]
    with pytest.raises(BomixError, match=match) as e:
        cfg(**kw).matrix(OLD, new)
    assert "\n" not in str(e.value)


def test_unplaced_old_domain_and_unfed_new_domain():
    with pytest.raises(BomixError, match="old domain 'wiki'.* is not in the new domain list"):
        cfg().matrix(OLD, OLD[:3])
    with pytest.raises(BomixError, match="new domain 'math' receives no old domain's weight"):
        cfg().matrix(OLD, OLD + ["math"])


@pytest.mark.parametrize("value, match", [
    (3, "must be a directory, a list"),
    ({"dirs": []}, "warm_start.dirs must list"),
    ({"dirs": ["a"], "bogus": 1}, "unknown key"),
    ({"dirs": ["a"], "removed": "maybe"}, "removed must be one of keep, drop"),
    ({"dirs": ["a"], "removed_max": 1.5}, r"removed_max must be in \[0, 1\)"),
    ({"dirs": ["a"], "merge": {"text": ["books"]}}, "two or more old ones"),
    ({"dirs": ["a"], "rename": ["web"]}, "must map old domain names"),
    ({"dirs": ["a"], "add": [1]}, "list of domain names"),
])
def test_parse_refusals(value, match):
    with pytest.raises(BomixError, match=match) as e:
        WarmStartConfig.parse(value)
    assert "\n" not in str(e.value)


def test_to_dict_round_trip():
    c = cfg(split={"code": {"py": 0.5, "js": 0.5}}, add=["math"], removed="drop")
    assert WarmStartConfig.parse(c.to_dict()) == c
