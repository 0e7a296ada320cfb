"""``mfmes``: multi-fidelity max-value entropy search (GIBBON lower bound) per unit cost, BoTorch's."""

from __future__ import annotations

import torch
from botorch.acquisition.max_value_entropy_search import qMultiFidelityLowerBoundMaxValueEntropy

from bomix.acquisition.cost import inverse_cost_utility
from bomix.acquisition.fixed import project_to_target
from bomix.acquisition.optimize import OptimizerConfig
from bomix.policies.bo.base import GPPolicy
from bomix.policies.bo.mfkg import INIT_GRID_FRACTION
from bomix.space import Fidelity

#: mfmes's acquisition search sizes (the fields that differ from :class:`OptimizerConfig`'s defaults).
MFMES_SEARCH = OptimizerConfig(raw_samples=64, iters=10)


class MFMESPolicy(GPPolicy):
    """Multi-fidelity max-value entropy search (GIBBON lower bound) per unit cost, BoTorch's implementation.

    Args:
        search: acquisition search sizes (preset :data:`MFMES_SEARCH`).
        candidate_set: target-fidelity points used to sample the max value.
        num_mv_samples: max-value samples. (others: see :class:`GPPolicy`)
    """

    name = "mfmes"
    tag = "mfmes"

    def __init__(self, search: OptimizerConfig = MFMES_SEARCH, candidate_set: int = 256, num_mv_samples: int = 10,
                 max_obs: int = 200, **kw):
        super().__init__(search=search, max_obs=max_obs, **kw)
        self.candidate_set_n, self.num_mv_samples = int(candidate_set), int(num_mv_samples)

    def init_fidelities(self) -> list[Fidelity]:
        grid = self.grid()
        return sorted(grid, key=self.problem.cost.of)[: max(1, len(grid) // INIT_GRID_FRACTION)]

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        d = self.space.dim
        torch.manual_seed(int(rng.integers(2**31)))  # max-value sampling draws from torch's global stream
        acqf = qMultiFidelityLowerBoundMaxValueEntropy(
            base, candidate_set=self._target_set(model, obs, rng, self.candidate_set_n),
            num_mv_samples=self.num_mv_samples, X_pending=self.encoder.spec_inputs(pending),
            cost_aware_utility=inverse_cost_utility(self.space, self.problem.cost), project=project_to_target(d))

        def acq(X: torch.Tensor) -> torch.Tensor:
            return torch.log(acqf(X.unsqueeze(-2)).clamp_min(1e-300))

        options = self._choose(acq, history, obs, rng, budget_left)
        return options[0][0] if options else None
