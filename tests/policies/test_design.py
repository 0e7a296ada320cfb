"""bomix.policies.design: space-filling initial designs."""

import numpy as np

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
    W = space_filling(space, 256, np.random.default_rng(0))
    R = space.sample(256, np.random.default_rng(0))
    assert np.allclose(W.sum(1), 1.0) and (W >= 0).all()
    disc = lambda X: np.abs(np.histogram(X[:, 0], bins=8, range=(0, 1))[0] - 256 * np.diff(  # noqa: E731
        1 - (1 - np.linspace(0, 1, 9)) ** 2)).max()
    assert disc(W) < disc(R)  # the first weight's marginal is Beta(1, 2): CDF 1 - (1 - x)^2
    assert np.array_equal(space_filling(space, 8, np.random.default_rng(3)),
                          space_filling(space, 8, np.random.default_rng(3)))  # a function of the generator
