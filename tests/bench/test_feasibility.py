"""`bomix bench` on a problem with outcome constraints: the share of final recommendations that meet them in the
simulator's truth, per policy (``feasible_final``; a column of the report only where there are constraints)."""

import numpy as np

from bomix.backends.synthetic import SyntheticBackend
from bomix.bench.report import to_markdown
from bomix.bench.tables import finals, summarize
from bomix.bench.loading import load_campaigns
from bomix.campaign import ProblemConfig, run_campaign
from bomix.policies.heuristics import FixedPolicy


def test_feasible_share_of_final_recommendations(tmp_path):
    b = SyntheticBackend(k=3, seed=0)
    t = b.space.target
    mixtures = {"d0": [0.8, 0.1, 0.1], "d1": [0.1, 0.8, 0.1]}
    bound = float(b.metrics_at(np.array([mixtures["d0"]]), t.scale, t.steps)["loss:d0"][0]) + 1e-6
    problem = ProblemConfig(constraints=[{"metric": "loss:d0", "max": bound}])  # only the d0-heavy mixture meets it
    for name, w in mixtures.items():
        for seed in (0, 1):
            policy = FixedPolicy(mixture=w)
            policy.name = f"fixed_{name}"
            run_campaign(b, policy, budget=1, seed=seed, problem=problem,
                         directory=tmp_path / "constrained" / f"{name}{seed}")
    run_campaign(b, FixedPolicy(mixture=mixtures["d1"]), budget=1, seed=0, directory=tmp_path / "free" / "d1")
    df = load_campaigns([tmp_path / "constrained"])
    fin = finals(df).set_index("policy")
    assert fin.loc["fixed_d0", "feasible_final"] == 1.0 and fin.loc["fixed_d1", "feasible_final"] == 0.0
    free = finals(load_campaigns([tmp_path / "free"]))
    assert np.isnan(free["feasible_final"]).all()  # no constraints: unknown, not "infeasible"
    assert "feasible (final)" in to_markdown(summarize([tmp_path / "constrained"]))
    assert "feasible (final)" not in to_markdown(summarize([tmp_path / "free"]))
