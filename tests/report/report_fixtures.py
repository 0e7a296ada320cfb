"""Builders for the report tests (importable by them; the fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.policies.heuristics import RandomPolicy
from bomix.policies.hyperband import HyperbandPolicy


class PredictingRandom(RandomPolicy):
    """Random search with a constant "model": its summary has a prediction (mean +- sd) to plot."""

    def predict(self, history, mixture):
        return 3.2, 0.05


def run(directory: Path, policy: str = "hyperband", budget: float = 2.0, delay: float = 0.0, **kw) -> dict:
    """A campaign on the synthetic simulator (4 domains): hyperband (multi-fidelity), random or predicting."""
    pol = {"hyperband": HyperbandPolicy, "random": RandomPolicy, "predicting": PredictingRandom}[policy]()
    return run_campaign(SyntheticBackend(k=4, noise=0.01, delay=delay), pol, budget=budget, seed=0,
                        directory=directory, **kw)
