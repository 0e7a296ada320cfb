"""Bayesian-optimisation policies over mixture x fidelity (one module per policy).

- :class:`MFBOPolicy` (``mfbo``, :mod:`.mfbo`): our multi-fidelity rule (EI at the target, fidelity by
  information per unit cost, GP with the mixing-law basis).
- :class:`MFKGPolicy` (``mfkg``), :class:`MFMESPolicy` (``mfmes``): knowledge gradient and GIBBON per cost.
- :class:`SFBOPolicy` (``sfbo``): single-fidelity qLogNEI at the target only.
- :class:`MOBOPolicy` (``mobo``, :mod:`.mobo`): a trade-off's Pareto set by qLogNEHVI at the target, fidelity by
  information per unit cost.
- :class:`MFMSEIPolicy` (``mfms_ei``): the MFMS paper's rule as in its code.

The shared decision loop (initial design, batches with fantasies, recommendation) is :class:`GPPolicy` in
:mod:`.base`; each policy states its rule in ``_one``. Where the acquisition is maximised (grid or pool):
:mod:`.search`; which earlier runs may be continued: :mod:`.continuation`. The model side lives in
:mod:`bomix.surrogate` (observations: history -> tensors; fit: warm starts and fantasies; gp: the model) and
the fixed fidelity columns of a search in :mod:`bomix.acquisition.fixed`.
"""

from bomix.policies.bo.base import GPPolicy
from bomix.policies.bo.mfbo import MFBOPolicy
from bomix.policies.bo.mfkg import MFKGPolicy
from bomix.policies.bo.mfmes import MFMESPolicy
from bomix.policies.bo.mfms_ei import MFMSEIPolicy
from bomix.policies.bo.mobo import MOBOPolicy
from bomix.policies.bo.sfbo import SFBOPolicy

__all__ = ["GPPolicy", "MFBOPolicy", "MFKGPolicy", "MFMESPolicy", "MFMSEIPolicy", "MOBOPolicy", "SFBOPolicy"]
