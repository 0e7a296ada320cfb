"""Surrogate models over GP inputs ``X = [w_1..w_K, s, t]``."""

from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of
from bomix.surrogate.numerics import NUMERICAL_ERRORS

__all__ = ["GPConfig", "NUMERICAL_ERRORS", "fit_gp", "hypers_of"]
