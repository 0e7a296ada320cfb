"""Ask/tell client: bomix chooses the runs, your own training script runs them (see README)."""

from bomix.study.study import Study, Trial

__all__ = ["Study", "Trial"]
