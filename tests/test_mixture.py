"""Mixture: a validated point of the simplex (bomix/mixture.py)."""

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.mixture import Mixture


def test_mixture_validates_and_renormalises():
    m = Mixture([0.5, 0.5 + 5e-7])
    assert abs(sum(m) - 1) < 1e-12
    with pytest.raises(BomixError, match="sum to"):
        Mixture([0.5, 0.6])
    with pytest.raises(BomixError, match="negative"):
        Mixture([1.5, -0.5])
    with pytest.raises(BomixError, match="non-finite"):
        Mixture([np.nan, 1.0])
