import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.space import Fidelity, Scale, Space


def make_space(**kw) -> Space:
    base = dict(domains=["a", "b", "c", "d"], scales=[Scale("s", 1e6), Scale("m", 1e7), Scale("l", 1e8)],
                min_steps=100, max_steps=1600)
    base.update(kw)
    return Space(**base)


def test_mixture_from_dict_and_unknown_domain():
    sp = make_space()
    m = sp.mixture({"a": 0.25, "c": 0.75})
    assert m.to_list() == [0.25, 0.0, 0.75, 0.0]
    assert m.to_dict()["c"] == 0.75
    with pytest.raises(BomixError, match="unknown domain"):
        sp.mixture({"zz": 1.0})
    with pytest.raises(BomixError, match="3 weights"):
        sp.mixture([0.2, 0.3, 0.5])


def test_encode_target_is_one_and_decode_roundtrip():
    sp = make_space()
    x = sp.encode(np.array([[0.1, 0.2, 0.3, 0.4]]), "l", 1600)
    assert x.shape == (1, 6)
    np.testing.assert_allclose(x[0, 4:], [1.0, 1.0])
    x0 = sp.encode([0.25] * 4, "s", 100)
    np.testing.assert_allclose(x0[0, 4:], [0.0, 0.0])
    xm = sp.encode([0.25] * 4, "m", 400)
    np.testing.assert_allclose(xm[0, 4:], [0.5, 0.5])
    (m, fid), = sp.decode(xm)
    assert fid == Fidelity("m", 400)
    np.testing.assert_allclose(m.weights, 0.25)


def test_fidelity_checks():
    sp = make_space()
    with pytest.raises(BomixError, match="unknown scale"):
        sp.check_fidelity(Fidelity("xl", 100))
    with pytest.raises(BomixError, match="outside"):
        sp.check_fidelity(Fidelity("s", 5000))
    assert len(sp.fidelity_grid()) == 3 * len(sp.step_grid)


@pytest.mark.parametrize("k", [3, 10, 30])
def test_sample_respects_bounds_without_rejection(k):
    doms = [f"x{i}" for i in range(k)]
    lower = {doms[0]: 0.1}
    upper = {doms[1]: 0.02, doms[2]: 0.05}
    sp = Space(doms, [Scale("s", 1.0)], 1, 10, lower=lower, upper=upper)
    w = sp.sample(300, np.random.default_rng(0))
    assert w.shape == (300, k)
    assert sp.feasible(w).all()
    assert w[:, 1].max() > 0.01  # the capped domain is explored, not stuck at 0
    # unbounded space: exact Dirichlet
    sp2 = Space(doms, [Scale("s", 1.0)], 1, 10)
    w2 = sp2.sample(2000, np.random.default_rng(1))
    np.testing.assert_allclose(w2.mean(0), 1 / k, atol=0.02)


def test_project_is_feasible_and_idempotent():
    sp = make_space(lower={"a": 0.1}, upper={"b": 0.2})
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(50, 4))
    p = sp.project(raw)
    assert sp.feasible(p).all()
    np.testing.assert_allclose(sp.project(p), p, atol=1e-9)


def test_repetition_cap_depends_on_fidelity():
    sp = make_space(tokens=[1e6, 1e9, 1e9, 1e9], max_epochs=2, tokens_per_step=1e4)
    # 1600 steps x 1e4 tokens = 1.6e7 tokens; domain a may get 2e6 -> weight <= 0.125
    up = sp.upper_at(Fidelity("l", 1600))
    assert up[0] == pytest.approx(0.125)
    w = sp.sample(100, np.random.default_rng(0), fid=Fidelity("l", 1600))
    assert (w[:, 0] <= 0.125 + 1e-9).all()
    with pytest.raises(BomixError, match="violates"):
        sp.check_mixture(sp.mixture([0.7, 0.1, 0.1, 0.1]), Fidelity("l", 1600))


def test_bad_bounds_rejected():
    with pytest.raises(BomixError, match="no mixture"):
        make_space(lower={"a": 0.6, "b": 0.6})
    with pytest.raises(BomixError, match="unknown domain"):
        make_space(upper={"q": 0.5})


@pytest.mark.parametrize("domains, match", [(["a", "a"], "duplicate domain names"),
                                            (["a", " "], "an empty domain name"), (["", "b"], "an empty domain name")])
def test_domain_names_are_distinct_and_not_empty(domains, match):
    with pytest.raises(BomixError, match=match):
        Space(domains=tuple(domains), scales=[Scale("s", 1e6)], min_steps=10, max_steps=100)
