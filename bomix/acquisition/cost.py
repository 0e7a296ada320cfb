"""The problem's cost model as a BoTorch deterministic model over GP inputs ``[w, s, t]``."""

from __future__ import annotations

import torch
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.models.deterministic import GenericDeterministicModel

from bomix.cost import CostModel
from bomix.space import Space


def grid_cost_model(space: Space, cost: CostModel) -> GenericDeterministicModel:
    """Cost (target-run equivalents) of each input's fidelity, snapped to the nearest grid fidelity.

    The fidelity columns are fixed features during acquisition optimisation, so the snap is exact for
    every point the policies propose. Output shape: ``... x n x 1`` for inputs ``... x n x (K + 2)``.
    """
    grid = space.fidelity_grid()
    coords = torch.tensor(space.fidelity_coords(grid), dtype=torch.double)
    costs = torch.tensor([cost.of(f) for f in grid], dtype=torch.double)

    def f(X: torch.Tensor) -> torch.Tensor:
        st = X[..., -2:].to(coords)
        idx = torch.cdist(st.reshape(-1, 2), coords).argmin(-1)
        return costs[idx].reshape(*X.shape[:-1], 1).to(X)

    return GenericDeterministicModel(f, num_outputs=1)


def inverse_cost_utility(space: Space, cost: CostModel) -> InverseCostWeightedUtility:
    """BoTorch's ``InverseCostWeightedUtility`` (utility / cost) over :func:`grid_cost_model`."""
    return InverseCostWeightedUtility(cost_model=grid_cost_model(space, cost))
