"""``sfbo``: single-fidelity BO, qLogNEI over mixtures at the target fidelity only."""

from __future__ import annotations

import numpy as np
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.sampling.normal import SobolQMCNormalSampler

from bomix.policies.bo.base import DT, GPPolicy


class SFBOPolicy(GPPolicy):
    """Single-fidelity BO: qLogNEI over mixtures at the target fidelity only, pending runs as ``X_pending``.

    Args:
        mc_samples: quasi-MC samples of qLogNEI. (others: see :class:`GPPolicy`; ``n_init`` target runs.)
    """

    name = "sfbo"
    tag = "sfbo"
    multi_fidelity = False

    def __init__(self, n_init: int = 3, mc_samples: int = 128, **kw):
        super().__init__(n_init=n_init, **kw)
        self.mc_samples = int(mc_samples)

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        t = self.space.target
        Xp = (torch.tensor(np.vstack([self.encode(s.mixture.weights, s.scale, s.steps) for s in pending]), dtype=DT)
              if pending else None)
        acqf = qLogNoisyExpectedImprovement(
            base, X_baseline=base.train_inputs[0], X_pending=Xp,
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=int(rng.integers(2**31))))

        def acq(W: torch.Tensor, gidx: np.ndarray) -> torch.Tensor:
            return acqf(self._x(W, t).unsqueeze(-2))

        options = self._choose(acq, history, obs, rng, budget_left, fids=[t])
        return options[0][0] if options else None
