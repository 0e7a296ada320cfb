"""Hyperband takes its rungs from what may be proposed (problem.proposals): honest grids, MFMS, synthetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bomix.backends.replay import ReplayBackend
from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import build_problem, run_campaign
from bomix.errors import BomixError
from bomix.policies.hyperband import HyperbandPolicy
from bomix.space import Fidelity
from bomix.store import Store

REGMIX = Path(__file__).parents[2] / "simulator" / "regmix" / "built"


def _rungs(backend, **kw) -> list[Fidelity]:
    pol = HyperbandPolicy(**kw)
    pol.bind(build_problem(backend), 0)
    return pol.rungs


def test_regmix_rungs_are_its_logged_fidelities_by_cost():
    assert _rungs(ReplayBackend(str(REGMIX))) == [Fidelity("1M", 1000), Fidelity("60M", 1000), Fidelity("1B", 23842)]


def test_hyperband_campaign_on_shipped_regmix_runs_only_logged_fidelities(tmp_path):
    sim = ReplayBackend(str(REGMIX), seed=0)
    s = run_campaign(sim, HyperbandPolicy(), budget=2.5, seed=0, directory=tmp_path, batch_size=4)
    assert s["stop_reason"] in ("budget", "policy") and np.isfinite(s["regret"])
    runs = Store(tmp_path).to_pandas()["runs"]
    assert set(zip(runs["scale"], runs["steps"])) == {("1M", 1000), ("60M", 1000), ("1B", 23842)}
    assert (runs["status"] == "ok").all()
    first = runs[runs["scale"] == "1M"]
    assert len(first) >= 9  # bracket s=2 starts 9 mixtures at the cheapest rung, promotes 3, then 1
    assert (runs["scale"] == "60M").sum() >= 3 and (runs["scale"] == "1B").sum() >= 1
    assert s["budget_used"] <= 2.5 + 1e-9


def test_synthetic_rungs_are_its_step_grid_at_the_target():
    b = SyntheticBackend(k=3, seed=0)
    t = b.space.target
    assert _rungs(b) == [Fidelity(t.scale, st) for st in b.space.step_grid if st <= t.steps]


def test_a_target_alone_on_the_grid_is_one_rung():
    """A grid with nothing cheaper than 1/eta of the target: random search at the target."""
    rungs = _rungs(ReplayBackend(str(REGMIX)), eta=1e9)
    assert rungs == [Fidelity("1B", 23842)]


def test_mfms_rungs_are_its_steps_at_the_target_scale():
    mfms = pytest.importorskip("bomix.backends.mfms")
    try:
        b = mfms.MFMSBackend()
    except BomixError:
        pytest.skip("../shared/data/mfms not found")
    t = b.space.target
    rungs = _rungs(b)
    assert rungs[-1] == t and len(rungs) >= 2 and {f.scale for f in rungs} == {t.scale}
    assert all(b.space.allows(f) for f in rungs)


def test_hyperband_promotes_the_best_by_continuation():
    from bomix.campaign import ProblemConfig
    from bomix.history import History

    b = SyntheticBackend(k=3, seed=0)
    p = build_problem(b, ProblemConfig())
    pol = HyperbandPolicy(eta=2.0)
    pol.bind(p, 7)
    h = History(p.space, p.objective, budget=5.0)
    first = pol.ask(h, 50.0, 100)
    assert len(first) > 1 and len({s.steps for s in first}) == 1
    for i, s in enumerate(first):
        h.results.append(b.run(s.with_(run_id=f"r{i}")))
    promoted = pol.ask(h, 50.0, 100)
    assert len(promoted) == len(first) // 2
    finals = {r.spec.run_id: h.objective.on_curve(r.curve)[-1] for r in h.results}
    best = sorted(finals, key=finals.get)[: len(promoted)]
    assert {s.resume_from for s in promoted} == set(best)
    assert all(s.steps > first[0].steps for s in promoted)
