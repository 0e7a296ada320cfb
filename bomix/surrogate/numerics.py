"""The numerical errors that model code may catch (and must count): one tuple, one place."""

from __future__ import annotations

import torch
from botorch.exceptions.errors import ModelFittingError
from linear_operator.utils.errors import NanError, NotPSDError

#: Failures of Cholesky factorisations, non-finite values and exhausted fits. Model code catches these
#: (never ``Exception``), falls back, logs a warning and counts it (``Policy.diagnostics()``).
NUMERICAL_ERRORS: tuple[type[BaseException], ...] = (
    NotPSDError, NanError, torch.linalg.LinAlgError, ModelFittingError, FloatingPointError,
)
