"""Surrogate models over GP inputs ``X = [w_1..w_K, s, t]``.

- :mod:`.observations`: a campaign's history -> the GP's training tensors (the observation encoder).
- :mod:`.gp`: tensors -> a fitted GP (kernels, subsampled fits, cold starts, Cholesky fallbacks).
- :mod:`.fit`: the GP of a campaign: warm starts carried by the specs, fantasies of pending runs.
- :mod:`.law`, :mod:`.offset`, :mod:`.variance_kernel`: kernel parts; :mod:`.run_noise`: the noise a run shares
  along its curve (a per-run random effect in the likelihood); :mod:`.numerics`: the numerical
  errors model code catches and the seeded torch block decisions run in.
"""

from bomix.surrogate.gp import GPConfig, fit_gp, hypers_of
from bomix.surrogate.numerics import NUMERICAL_ERRORS

__all__ = ["GPConfig", "NUMERICAL_ERRORS", "fit_gp", "hypers_of"]
