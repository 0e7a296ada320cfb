"""Mixtures at fixed fidelities: the fidelity columns of the GP inputs as fixed features.

The GP's inputs are ``X = [w_1..w_K, s, t]``; an acquisition search moves only the mixture ``w`` and keeps
each candidate's fidelity columns fixed. BoTorch's ``FixedFeatureAcquisitionFunction`` fixes the same
values for every point of a batch and wraps an ``AcquisitionFunction`` module; our searches score one batch
whose rows sit at different fidelities of a grid (``maximize`` passes one index per row), and several of
our acquisitions are closures over the posterior. So :class:`FixedFidelities` does the same job for a list
of fidelities: ``at(W, idx)`` appends the columns of ``fids[idx]`` (one index per row, or one for all) and
:meth:`FixedFidelities.wrap` turns an acquisition over GP inputs into one over mixtures. The coordinates come
from ``Space.fidelity_coords``, the one place they are built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from botorch.acquisition.utils import project_to_target_fidelity

from bomix.space import Fidelity, Space

AcqFn = Callable[[torch.Tensor, np.ndarray], torch.Tensor]


class FixedFidelities:
    """GP inputs for mixtures at fidelities of ``fids``.

    Args:
        space: gives the fidelity columns (``Space.fidelity_coords``).
        fids: the fidelities, indexed by position.
    """

    def __init__(self, space: Space, fids: Sequence[Fidelity]):
        self.fids = list(fids)
        self.coords = torch.tensor(space.fidelity_coords(self.fids), dtype=torch.double)  # m x 2

    def __call__(self, W: torch.Tensor, idx: int | np.ndarray = 0) -> torch.Tensor:
        """``b x K`` mixtures at ``fids[idx]`` -> ``b x (K + 2)`` inputs; ``idx`` one index for every row
        or a ``(b,)`` int array (one per row)."""
        if np.ndim(idx) == 0:
            return torch.cat([W, self.coords[int(idx)].expand(W.shape[0], 2)], dim=-1)
        return torch.cat([W, self.coords[torch.as_tensor(idx)]], dim=-1)

    def each(self, W: torch.Tensor) -> torch.Tensor:
        """One mixture ``1 x K`` at every fidelity, in order -> ``m x (K + 2)``."""
        m = len(self.fids)
        return self(W.expand(m, -1), np.arange(m))

    def wrap(self, acq: Callable[[torch.Tensor], torch.Tensor]) -> AcqFn:
        """An acquisition over GP inputs (``b x (K + 2) -> (b,)``) as one over mixtures: ``(W, idx) ->
        acq(self(W, idx))``, what :func:`bomix.acquisition.optimize.maximize` searches."""
        return lambda W, idx: acq(self(W, idx))


def project_to_target(d: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """BoTorch's ``project_to_target_fidelity`` with both fidelity columns of ``d``-column inputs fixed at
    the target's coordinates (1.0: ``Space.scale_coord`` and ``step_coord`` are 1 there)."""
    return partial(project_to_target_fidelity, target_fidelities={d - 2: 1.0, d - 1: 1.0}, d=d)
