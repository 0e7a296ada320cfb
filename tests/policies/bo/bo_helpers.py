"""Shared by the BO policy tests: small optimiser sizes, one policy of each kind, a bound policy on a
synthetic problem and a loop that finishes its runs one at a time."""

from __future__ import annotations

import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import ProblemConfig, build_problem
from bomix.history import History
from bomix.policies.bo import MFBOPolicy, MFKGPolicy, MFMESPolicy, MFMSEIPolicy, SFBOPolicy
from bomix.policies.hyperband import HyperbandPolicy

torch.set_num_threads(1)
#: small sizes; the gp / search groups are changes applied onto each policy's preset
SMALL = dict(gp={"maxiter": 20}, search={"raw_samples": 16, "starts": 2, "iters": 3}, max_obs=40, max_per_run=2)


def small(**gp) -> dict:
    """:data:`SMALL` with more changes to the policy's gp preset (``small(offset=True)``)."""
    return dict(SMALL, gp={**SMALL["gp"], **gp})


POLICIES = {
    "mfbo": lambda: MFBOPolicy(n_init=3, **SMALL),
    "mfbo_contrasts": lambda: MFBOPolicy(n_init=3, contrasts=True, **small(offset=True)),
    "sfbo": lambda: SFBOPolicy(n_init=2, mc_samples=32, **SMALL),
    "mfms_ei": lambda: MFMSEIPolicy(n_init=4, restarts=1, search={"raw_samples": 8}, gp={"maxiter": 20}, max_obs=40,
                                    max_per_run=2),
    "mfkg": lambda: MFKGPolicy(n_init=3, num_fantasies=2, target_set=8, search={"raw_samples": 4}, gp={"maxiter": 20},
                               max_obs=40, max_per_run=2),
    "mfmes": lambda: MFMESPolicy(n_init=3, candidate_set=16, num_mv_samples=4, search={"raw_samples": 4, "iters": 1},
                                 gp={"maxiter": 20}, max_obs=40, max_per_run=2),
    "hyperband": lambda: HyperbandPolicy(),
}


def bound(policy, k: int = 3, **prob):
    """``(backend, policy, history)``: ``policy`` bound (seed 7) to a synthetic problem, an empty history."""
    b = SyntheticBackend(k=k, seed=0)
    p = build_problem(b, ProblemConfig(**prob))
    policy.bind(p, 7)
    return b, policy, History(p.space, p.objective, budget=5.0)


def play(b, pol, h, n_runs: int):
    """Dispatch and finish runs one at a time, as the campaign does."""
    for i in range(n_runs):
        spec = pol.ask(h, 5.0, 1)[0].with_(run_id=f"r{i}")
        h.results.append(b.run(spec))
    return h
