"""The one definition of a reweighted step's loss (bomix/online/normalisers.py)."""

import numpy as np
import pytest

from bomix.online.normalisers import effective_shares, loss_coefficients

LW, S = np.array([0.2, 0.2, 0.6]), np.array([0.5, 0.25, 0.25])


def test_plain_paper_and_code_coefficients():
    n = np.array([30.0, 10.0, 0.0])
    np.testing.assert_allclose(loss_coefficients(n, None), [0.75, 0.25, 0.0])
    np.testing.assert_allclose(loss_coefficients(n, LW, "domain", S), [0.2, 0.2, 0.0])  # not renormalised
    u = np.array([0.4, 0.8, 2.4]) * n  # lw / s per token, times the tokens
    np.testing.assert_allclose(loss_coefficients(n, LW, "token", S), u / u.sum())
    # the code's default sampling is uniform
    np.testing.assert_allclose(loss_coefficients(n, LW, "token"), LW * n / (LW * n).sum())
    with pytest.raises(ValueError, match="normaliser"):
        loss_coefficients(n, LW, "sum")


def test_the_normalisers_agree_on_batches_that_match_the_sampling_weights_only():
    on, off = 64 * S, np.array([16.0, 32.0, 16.0])
    np.testing.assert_allclose(effective_shares(loss_coefficients(on, LW, "token", S)),
                               effective_shares(loss_coefficients(on, LW, "domain", S)))
    assert not np.allclose(effective_shares(loss_coefficients(off, LW, "token", S)),
                           effective_shares(loss_coefficients(off, LW, "domain", S)))


def test_a_step_whose_loss_weights_fall_on_absent_domains_trains_on_nothing():
    n = np.array([4.0, 0.0, 0.0])
    for norm in ("domain", "token"):
        c = loss_coefficients(n, [0.0, 0.5, 0.5], norm, S)
        assert np.all(c == 0) and np.all(effective_shares(c) == 0)
