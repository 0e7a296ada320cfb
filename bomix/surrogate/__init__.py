"""Surrogate models over GP inputs ``X = [w_1..w_K, s, t]``."""

from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of

__all__ = ["GPConfig", "fit_gp", "hypers_of"]
