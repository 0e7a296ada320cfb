"""``bomix suggest``: logged runs in, mixture out.

- :mod:`~bomix.suggest.readers`: a logged-run file (long, RegMix, Olmix or W&B format) -> the long table.
- :mod:`~bomix.suggest.problem`: the table -> the problem (space, target, objective, cost, trust region) and the
  history a campaign ending with those runs has.
- :mod:`~bomix.suggest.suggest`: a policy bound to that problem: recommendation, prediction, next runs.
- :mod:`~bomix.suggest.text`: the answer for a person.
"""

from bomix.suggest.readers import FORMATS, Swarm, WandbColumns, read_runs
from bomix.suggest.suggest import Suggestion, suggest

__all__ = ["FORMATS", "Suggestion", "Swarm", "WandbColumns", "read_runs", "suggest"]
