"""What model code needs to be robust and reproducible: the numerical errors it may catch (one tuple, one
place) and torch's global generator seeded per decision (:func:`seeded_torch`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from botorch.exceptions.errors import ModelFittingError
from linear_operator.utils.errors import NanError, NotPSDError

#: Failures of Cholesky factorisations, non-finite values and exhausted fits. Model code catches these
#: (never ``Exception``), falls back, logs a warning and counts it (``Policy.diagnostics()``).
NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (
    NotPSDError, NanError, torch.linalg.LinAlgError, ModelFittingError, FloatingPointError,
)


@contextlib.contextmanager
def seeded_torch(*key: int) -> Iterator[None]:
    """Run a block with torch's global generator seeded from ``key`` (restored afterwards).

    BoTorch's fit retries and quasi-MC samplers draw from the global generator; a policy seeds it from
    ``(seed, history state, salt)`` so that every decision is a function of the history and the seed.
    """
    seed = int(np.random.SeedSequence([abs(int(k)) for k in key]).generate_state(1)[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
