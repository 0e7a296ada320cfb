"""bomix.policies.design: space-filling initial designs."""

import numpy as np

from bomix.backends.synthetic import SyntheticBackend
from bomix.policies.design import space_filling


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
