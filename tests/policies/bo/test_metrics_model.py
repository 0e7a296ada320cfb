"""policy.metrics_model=independent: an objective over many metrics modelled by one GP per metric."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, ProblemConfig
from bomix.errors import BomixError
from bomix.paths import conf_dir
from bomix.policies.bo.mfbo import MFBOPolicy
from bomix.store import StoreReader
from bomix.surrogate.aggregate import AggregateModel

LIGHT = dict(fidelities=["1B@20000"], n_init=6, gp={"maxiter": 10, "law": False, "level": False, "invariant": False,
                                                    "cold_start": False},
             search={"raw_samples": 32, "starts": 2, "iters": 5})


def tasks_objective() -> dict:
    return OmegaConf.to_container(OmegaConf.load(conf_dir() / "problem" / "synthetic_tasks.yaml"))["objective"]


def run(tmp_path, metrics_model: str, name: str = "c"):
    pol = MFBOPolicy(metrics_model=metrics_model, **LIGHT)
    with Campaign(SyntheticBackend(k=5, tasks=12, noise=0.01, hetero=1.0, seed=3), pol, budget=9, seed=0,
                  directory=tmp_path / name, problem=ProblemConfig(objective=tasks_objective()), max_runs=9) as c:
        s = c.run()
    return pol, s


def test_independent_model_combines_one_gp_per_metric_and_is_deterministic(tmp_path):
    pol, s = run(tmp_path, "independent")
    assert s["n_runs"] == 9 and s["regret"] is not None and s["predicted"]["sd"] > 0
    from bomix.history import History

    with StoreReader(tmp_path / "c") as st:
        results, _, spent = st.load(st.get_meta("domains"))
        meta = [r.spec.meta for r in results if r.spec.tag == "mfbo"]
    history = History(pol.space, pol.problem.objective, results, [], 9, spent)
    model, obs = pol.model(history)
    assert isinstance(model, AggregateModel) and len(model.models) == 13  # 12 tasks + loss:target
    coef, offset = pol.problem.objective.coefficients()
    X = pol.at_target(torch.full((1, 5), 0.2, dtype=torch.double))
    post = model.posterior(X)
    parts = sum(coef[m] * sub.posterior(X).mean for m, sub in zip(pol.problem.objective.metrics, model.models))
    assert post.mean.item() == pytest.approx((parts - offset).item())
    assert meta and all(any(k.startswith("models.12.") for k in m["gp"]) for m in meta)  # per-metric warm starts
    _, again = run(tmp_path, "independent", "again")
    assert again["recommendation"] == s["recommendation"]


def test_scalar_stays_one_gp_and_bad_option_is_one_line(tmp_path):
    pol, s = run(tmp_path, "scalar")
    assert s["n_runs"] == 9
    with pytest.raises(BomixError, match="metrics_model must be one of scalar, independent"):
        MFBOPolicy(metrics_model="joint")
