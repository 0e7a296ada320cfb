import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import Curve


def test_kinds():
    row = {"a": 1.0, "b": 3.0, "acc": 0.7}
    assert Objective.metric("a")(row) == 1.0
    assert Objective.mean(["a", "b"])(row) == 2.0
    assert Objective.weighted({"a": 3, "b": 1})(row) == pytest.approx(1.5)
    assert Objective.negated("acc")(row) == -0.7
    assert np.isnan(Objective.metric("zzz")(row))


def test_from_config_and_errors():
    assert Objective.from_config({"mean": ["a", "b"]}).metrics == ["a", "b"]
    assert Objective.from_config({"maximize": "acc"}).sign == -1
    assert Objective.from_config(None, default=Objective.metric("a")).metrics == ["a"]
    with pytest.raises(BomixError, match="unknown metric"):
        Objective.from_config("nope", available=["a"])
    with pytest.raises(BomixError, match="exactly one"):
        Objective.from_config({"mean": ["a"], "metric": "b"})
    with pytest.raises(BomixError, match="no objective"):
        Objective.from_config(None)


def test_on_curve():
    c = Curve([1, 2], {"a": [2.0, 1.0], "b": [4.0, 3.0]})
    np.testing.assert_allclose(Objective.mean(["a", "b"]).on_curve(c), [3.0, 2.0])


# ----- many metrics: per-metric directions and normalisation against a reference mixture ----------------------
ROW = {"loss": 3.0, "acc": 0.6, "ppl": 30.0}
REF = {"loss": 2.5, "acc": 0.5, "ppl": 25.0}


def test_per_metric_directions_by_hand():
    obj = Objective.from_config({"weights": {"loss": 1, "acc": 3}, "maximize": ["acc"]})
    assert obj(ROW) == pytest.approx(0.25 * 3.0 - 0.75 * 0.6)
    assert obj.name == "wmean(loss,-acc)" and obj.sign == 1.0
    # a maximize list alone is the mean of those metrics, each maximised (the same value as the old one-metric kind)
    one = Objective.from_config({"maximize": "acc"})
    assert Objective.from_config({"maximize": ["acc"]})(ROW) == one(ROW) == -0.6
    # minimize states the default direction explicitly
    assert Objective.from_config({"mean": ["loss", "acc"], "minimize": ["loss"], "maximize": ["acc"]})(ROW) == \
        pytest.approx(0.5 * 3.0 - 0.5 * 0.6)


def test_normalisation_against_the_reference_by_hand():
    obj = Objective.from_config({"weights": {"loss": 1, "acc": 1, "ppl": 2}, "maximize": ["acc"], "reference": REF})
    # (m - ref) / |ref|, accuracies negated: loss +20% worse, acc +20% better, ppl +20% worse
    expected = 0.25 * (3.0 - 2.5) / 2.5 - 0.25 * (0.6 - 0.5) / 0.5 + 0.5 * (30.0 - 25.0) / 25.0
    assert obj(ROW) == pytest.approx(expected)
    assert obj(REF) == pytest.approx(0.0)  # the reference mixture scores 0
    assert obj.name == "rel(loss,-acc,ppl)"
    # vectorised and on a curve: the same numbers
    np.testing.assert_allclose(obj.values({m: np.array([ROW[m], REF[m]]) for m in ROW}), [expected, 0.0], atol=1e-15)
    # the objective is affine: coefficients and offset reproduce it
    coef, offset = obj.coefficients()
    assert offset + sum(c * ROW[m] for m, c in coef.items()) == pytest.approx(expected)
    # a negative reference value normalises by its magnitude: still "fraction better or worse"
    neg = Objective.from_config({"metric": "m", "reference": {"m": -2.0}})
    assert neg({"m": -1.0}) == pytest.approx(0.5)


def test_scale_no_longer_dominates_once_normalised():
    """A perplexity (tens) swamps an accuracy (tenths) in a plain mean; normalised, a 10% change of either counts alike."""
    plain = Objective.from_config({"mean": ["acc", "ppl"], "maximize": ["acc"]})
    rel = Objective.from_config({"mean": ["acc", "ppl"], "maximize": ["acc"], "reference": {"acc": 0.5, "ppl": 25.0}})
    acc_up = {"acc": 0.55, "ppl": 25.0}    # 10% better accuracy
    ppl_down = {"acc": 0.5, "ppl": 22.5}   # 10% better perplexity
    assert abs(plain(ppl_down) - plain(REF)) > 40 * abs(plain(acc_up) - plain(REF))
    assert rel(acc_up) == pytest.approx(rel(ppl_down))


def test_old_configs_keep_their_values_and_stored_dict():
    """Stored campaigns and committed benchmark numbers depend on these: bit-identical values, the same to_dict."""
    row = {"a": 1.1, "b": 3.3, "acc": 0.7}
    cases = [("a", {"weights": {"a": 1.0}, "sign": 1.0, "name": "a"}, 1.1),
             ({"mean": ["a", "b"]}, {"weights": {"a": 0.5, "b": 0.5}, "sign": 1.0, "name": "wmean(a,b)"},
              0.5 * 1.1 + 0.5 * 3.3),
             ({"weights": {"a": 3, "b": 1}}, {"weights": {"a": 0.75, "b": 0.25}, "sign": 1.0, "name": "wmean(a,b)"},
              0.75 * 1.1 + 0.25 * 3.3),
             ({"maximize": "acc"}, {"weights": {"acc": 1.0}, "sign": -1.0, "name": "-acc"}, -0.7),
             ({"metric": "a", "name": "mine"}, {"weights": {"a": 1.0}, "sign": 1.0, "name": "mine"}, 1.1)]
    for cfg, stored, value in cases:
        obj = Objective.from_config(cfg)
        assert obj.to_dict() == stored
        assert obj(row) == value  # exactly: the same floating-point operations as before
        assert Objective.from_dict(stored) == obj
        assert obj.key == ",".join(f"{m}:{w:.12g}" for m, w in obj.weights) + f"|{obj.sign:g}"  # replay caches


def test_new_objectives_round_trip_through_the_stored_dict():
    obj = Objective.from_config({"weights": {"loss": 1, "acc": 2}, "maximize": ["acc"],
                                 "reference": {"loss": 2.5, "acc": 0.5}, "name": "rel"})
    d = obj.to_dict()
    assert d["maximize"] == ["acc"] and d["reference"] == {"loss": 2.5, "acc": 0.5}
    assert Objective.from_dict(d) == obj and Objective.from_dict(d)(ROW) == obj(ROW)
    assert obj.key != Objective.from_config({"weights": {"loss": 1, "acc": 2}}).key


@pytest.mark.parametrize("cfg, message", [
    ({"weights": {"a": 1, "b": -1}}, "weights must be >= 0"),
    ({"weights": {"a": 0}}, "weights must be >= 0 with a positive sum"),
    ({"weights": {"a": "x"}}, "objective weight of a must be a number"),
    ({"weights": {"a": 1}, "maximize": ["a"], "minimize": ["a"]}, "both in minimize and maximize"),
    ({"weights": {"a": 1}, "maximize": ["b"]}, "maximize names metric(s) ['b'] that are not in the objective"),
    ({"weights": {"a": 1}, "minimize": ["b"]}, "minimize names metric(s) ['b']"),
    ({"weights": {"a": 1, "b": 1}, "reference": {"a": 1.0}}, "reference lacks a value for metric(s) ['b']"),
    ({"weights": {"a": 1}, "reference": {"a": 1.0, "c": 2.0}}, "reference names metric(s) ['c']"),
    ({"weights": {"a": 1}, "reference": {"a": 0}}, "must be finite and non-zero"),
    ({"weights": {"a": 1}, "reference": {"a": "nan"}}, "must be finite"),
    ({"weights": {"a": 1}, "reference": [1.0]}, "reference must map metric"),
    ({"weights": {"a": 1}, "normalize": "reference"}, "unknown objective key(s) ['normalize']"),
    ({"mean": ["a"], "maximize": "b"}, "exactly one of"),
    ({"maximize": ["a", "a"]}, "names a metric twice"),
    ({"mean": [1, 2]}, "must be a list of metric names"),
    (3, "an objective is a metric name or a mapping"),
])
def test_bad_configs_are_one_line_errors(cfg, message):
    with pytest.raises(BomixError) as info:
        Objective.from_config(cfg)
    assert message in str(info.value) and "\n" not in str(info.value)
