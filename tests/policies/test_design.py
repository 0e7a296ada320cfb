"""bomix.policies.design: space-filling initial designs."""

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.policies.design import space_filling


def test_space_filling_reaches_sparse_mixtures_in_many_dimensions():
    """At K = 17 uniform draws on the simplex almost never put half the weight on one domain; the design's
    low concentrations do, while its high ones stay near the prior."""
    space = SyntheticBackend(k=17, seed=0).space
    W = space_filling(space, 512, np.random.default_rng(0))
    R = space.sample(512, np.random.default_rng(0))
    assert np.allclose(W.sum(1), 1.0) and (W >= 0).all()
    assert (W.max(1) > 0.5).mean() > 0.1 and (R.max(1) > 0.5).mean() < 0.01
    assert (W.max(1) < 0.2).mean() > 0.2
    prior = np.r_[np.full(8, 4.0), np.ones(9)]
    Wp = space_filling(space, 512, np.random.default_rng(0), prior=prior)
    assert Wp[:, :8].sum(1).mean() > 0.7  # centred on the prior (8 domains with 4/5 of it)


def test_space_filling_covers_the_simplex_more_evenly_than_random_draws():
    space = SyntheticBackend(k=3, seed=0).space
    # Sobol points through uniform spacings cover the simplex more evenly than random draws
    W = space_filling(space, 256, np.random.default_rng(0), kind="simplex")
    R = space.sample(256, np.random.default_rng(0))
    assert np.allclose(W.sum(1), 1.0) and (W >= 0).all()
    disc = lambda X: np.abs(np.histogram(X[:, 0], bins=8, range=(0, 1))[0] - 256 * np.diff(  # noqa: E731
        1 - (1 - np.linspace(0, 1, 9)) ** 2)).max()
    assert disc(W) < disc(R)  # the first weight's marginal is Beta(1, 2): CDF 1 - (1 - x)^2
    for kind in ("dirichlet", "simplex"):  # a function of the generator
        assert np.array_equal(space_filling(space, 8, np.random.default_rng(3), kind=kind),
                              space_filling(space, 8, np.random.default_rng(3), kind=kind))


def test_simplex_design_is_uniform_on_the_simplex_where_the_dirichlet_one_is_sparse():
    """The uniform design's largest weight has the uniform distribution's mean (H_K / K) and tail, the Dirichlet
    design's reaches one-domain-heavy mixtures more often; the uniform one ignores the prior."""
    space = SyntheticBackend(k=7, seed=0).space
    U = space_filling(space, 512, np.random.default_rng(0), kind="simplex")
    D = space_filling(space, 512, np.random.default_rng(0))
    assert np.allclose(U.sum(1), 1.0) and (U >= 0).all()
    h7 = sum(1 / i for i in range(1, 8)) / 7  # E[max] of a uniform point on the 7-simplex: 0.37
    assert abs(U.max(1).mean() - h7) < 0.02
    # P(max > 1/2) of a uniform point: K / 2^(K-1) = 0.11; the Dirichlet design's low concentrations: 0.37
    assert (D.max(1) > 0.5).mean() > 0.3 and abs((U.max(1) > 0.5).mean() - 7 / 64) < 0.03
    prior = np.r_[np.full(3, 10.0), np.ones(4)]
    assert np.array_equal(U, space_filling(space, 512, np.random.default_rng(0), prior=prior, kind="simplex"))
    with pytest.raises(ValueError, match="unknown initial design 'sobol'"):
        space_filling(space, 4, np.random.default_rng(0), kind="sobol")
