"""``sfbo``: single-fidelity BO, qLogNEI over mixtures at the target fidelity only."""

from __future__ import annotations

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.sampling.normal import SobolQMCNormalSampler

from bomix.acquisition.optimize import OptimizerConfig
from bomix.policies.bo.base import GPPolicy

#: sfbo's acquisition search sizes (the fields that differ from :class:`OptimizerConfig`'s defaults).
SFBO_SEARCH = OptimizerConfig(raw_samples=384)


class SFBOPolicy(GPPolicy):
    """Single-fidelity BO: qLogNEI over mixtures at the target fidelity only, pending runs as ``X_pending``.

    Args:
        search: acquisition search sizes (preset :data:`SFBO_SEARCH`).
        mc_samples: quasi-MC samples of qLogNEI. (others: see :class:`GPPolicy`; ``n_init`` target runs.)
    """

    name = "sfbo"
    tag = "sfbo"
    multi_fidelity = False

    def __init__(self, search: OptimizerConfig = SFBO_SEARCH, n_init: int = 3, mc_samples: int = 128, **kw):
        super().__init__(search=search, n_init=n_init, **kw)
        self.mc_samples = int(mc_samples)

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        acqf = qLogNoisyExpectedImprovement(
            base, X_baseline=base.train_inputs[0], X_pending=self.encoder.spec_inputs(pending),
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=int(rng.integers(2**31))))
        options = self._choose(lambda X: acqf(X.unsqueeze(-2)), history, obs, rng, budget_left,
                               fids=[self.space.target])
        return options[0][0] if options else None
