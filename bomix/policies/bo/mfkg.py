"""``mfkg``: multi-fidelity knowledge gradient per unit cost, on a discrete target set."""

from __future__ import annotations

import dataclasses

import torch
from botorch.sampling.normal import SobolQMCNormalSampler

from bomix.acquisition.cost import inverse_cost_utility
from bomix.acquisition.fixed import project_to_target
from bomix.acquisition.optimize import OptimizerConfig
from bomix.policies.bo.base import GPPolicy
from bomix.space import Fidelity

#: The initial design uses the cheapest third of the allowed grid.
INIT_GRID_FRACTION = 3
#: mfkg's acquisition search sizes (the fields that differ from :class:`OptimizerConfig`'s defaults); its decisions
#: score ``raw_samples`` candidates without ascent (see ``_one``), its recommendation uses all of it.
MFKG_SEARCH = OptimizerConfig(raw_samples=48)


class MFKGPolicy(GPPolicy):
    """Multi-fidelity knowledge gradient per unit cost, on a discrete target set.

    ``KG(x, f) = E[max_{x' in D} mu_new(x', target)] - max_{x' in D} mu(x', target)``, with ``mu_new`` the
    posterior after a fantasised observation at ``(x, f)`` (``num_fantasies`` quasi-MC fantasies), ``D``
    the target set (observed mixtures, vertices, random draws, and ``x`` projected to the target with
    ``project_to_target_fidelity(..., d=K + 2)``), divided by cost (``InverseCostWeightedUtility``).
    Candidates are scored, not gradient-refined (the one-shot qMFKG over the simplex is too slow on 2 cores).

    Args:
        search: acquisition search sizes (preset :data:`MFKG_SEARCH`; decisions use its ``raw_samples`` only,
            the recommendation all of it).
        num_fantasies: quasi-MC fantasies per candidate.
        target_set: random target-fidelity mixtures in the target set ``D``.
        chunk: candidates fantasised at once. (others: see :class:`GPPolicy`)
    """

    name = "mfkg"
    tag = "mfkg"

    def __init__(self, search: OptimizerConfig = MFKG_SEARCH, num_fantasies: int = 8, target_set: int = 64,
                 chunk: int = 64, max_obs: int = 200, **kw):
        super().__init__(search=search, max_obs=max_obs, **kw)
        self.num_fantasies, self.target_set_n, self.chunk = int(num_fantasies), int(target_set), int(chunk)

    def init_fidelities(self) -> list[Fidelity]:
        grid = self.grid()
        return sorted(grid, key=self.problem.cost.of)[: max(1, len(grid) // INIT_GRID_FRACTION)]

    def _one(self, model, base, history, obs, rng, budget_left, pending):
        d = self.space.dim
        D = self._target_set(model, obs, rng, self.target_set_n)
        with torch.no_grad():
            current = model.posterior(D).mean.squeeze(-1).max()
        utility = inverse_cost_utility(self.space, self.problem.cost)
        project = project_to_target(d)
        sampler = SobolQMCNormalSampler(torch.Size([self.num_fantasies]), seed=int(rng.integers(2**31)))

        def acq(Xall: torch.Tensor) -> torch.Tensor:
            out = []
            for a in range(0, Xall.shape[0], self.chunk):
                X = Xall[a:a + self.chunk].unsqueeze(-2)  # b x 1 x d
                with torch.no_grad():
                    fm = model.fantasize(X, sampler)  # batch: nf x b
                    best_d = fm.posterior(D).mean.squeeze(-1).max(-1).values  # nf x b
                    own = fm.posterior(project(X)).mean.squeeze(-1).squeeze(-1)  # nf x b
                delta = (torch.maximum(best_d, own) - current).mean(0).clamp_min(0.0)  # b
                out.append(utility(X, delta.unsqueeze(0)).squeeze(0))
            v = torch.cat(out)
            return torch.log(v.clamp_min(1e-300))

        cfg = dataclasses.replace(self.opt_cfg, starts=1, iters=0)  # score the raw candidates only
        options = self._choose(acq, history, obs, rng, budget_left, cfg=cfg)
        return options[0][0] if options else None
