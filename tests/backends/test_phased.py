"""PhasedBackend: a phased point runs as its schedule; truth, optimum, refusals; a campaign over phases."""

import json

import numpy as np
import pytest

from bomix.backends.phased import PhasedBackend
from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, ProblemConfig
from bomix.errors import BomixError
from bomix.phases import Phases
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import RunSpec
from bomix.space import Fidelity

TWO = [{"name": "pre", "fraction": 0.8}, {"name": "anneal", "fraction": 0.2}]


def phased(**kw) -> PhasedBackend:
    return PhasedBackend(SyntheticBackend(k=4, anneal=kw.pop("anneal", 0.5), **kw), Phases.from_config(TWO))


def test_a_point_runs_as_its_schedule_and_comes_back_with_its_own_spec():
    b = phased()
    m = b.space.mixture({"pre": {"d0": 0.5, "d1": 0.5}, "anneal": {"d3": 1.0}})
    spec = RunSpec(m, "60M", 2000, seed=3)
    res = b.run(spec)
    assert res.ok and res.spec is spec
    inner = b.inner_spec(spec)
    assert inner.schedule.starts == (0, 1600) and np.allclose(inner.mixture.weights, [0.4, 0.4, 0, 0.2])
    direct = b.inner.run(inner)
    assert np.array_equal(res.curve.steps, direct.curve.steps)
    assert np.allclose(res.curve.metrics["loss:target"], direct.curve.metrics["loss:target"])
    assert b.cost(spec) == pytest.approx(b.inner.cost(inner))
    # the truth is the end of that run (noiseless backend)
    v = b.true_value(m, Fidelity("60M", 2000), b.default_objective)
    assert v == pytest.approx(direct.curve.metrics["loss:target"][-1], abs=1e-9)


def test_optimum_is_a_schedule_no_static_mixture_or_sample_beats():
    b = phased()
    obj, fid = b.default_objective, b.space.target
    x, v = b.optimum(obj)
    assert b.space.feasible(x.weights).all()
    X = b.space.sample(2000, np.random.default_rng(5), 1.0, fid)
    assert v <= b.true_values(X, fid, obj).min() + 1e-12
    static_w, static_v = b.inner.optimum(obj)
    assert v < static_v - 1e-3  # under the annealing law a schedule beats every static mixture
    same = b.space.compose(np.tile(static_w.weights, (1, 2, 1)), [0.8, 0.2])
    assert b.true_values(same, fid, obj)[0] == pytest.approx(static_v, abs=1e-9)  # a static schedule is static


def test_refuses_backends_without_schedules_and_points_with_their_own_schedule():
    from bomix.backends.base import Backend

    class NoSchedules(Backend):
        name = "plain"

        def run(self, spec):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(BomixError, match="cannot run mixture schedules, so it cannot run problem.phases"):
        PhasedBackend(NoSchedules(), Phases.from_config(TWO))
    b = phased()
    spec = RunSpec(b.space.center(), "20M", 500, resume_from="r00001", resume_step=250)
    with pytest.raises(BomixError, match="only as a branch at one of its phase boundaries"):
        b.inner_spec(spec)


def test_policies_that_cannot_search_phases_refuse_in_one_line(tmp_path):
    from bomix.policies.laws.dml import DMLPolicy

    with pytest.raises(BomixError, match="policy dml cannot search a multi-phase space"):
        Campaign(SyntheticBackend(k=4), DMLPolicy(), budget=1.0, directory=tmp_path,
                 problem=ProblemConfig(phases=TWO))


def test_campaign_over_phases_stores_points_and_reports_the_schedule(tmp_path):
    ranged = [{"name": "pre", "fraction": [0.6, 0.9]}, {"name": "anneal", "fraction": [0.1, 0.4]}]
    with Campaign(SyntheticBackend(k=4, anneal=0.5, noise=0.01), RandomPolicy(scale="20M", steps=1000),
                  budget=0.05, seed=1, directory=tmp_path, problem=ProblemConfig(phases=ranged), max_runs=6) as c:
        s = c.run()
    assert s["n_runs"] == 6 and s["regret"] is not None and s["regret"] >= -1e-9
    sched = s["schedule"]
    assert [p["phase"] for p in sched] == ["pre", "anneal"]
    assert sum(p["fraction"] for p in sched) == pytest.approx(1.0)
    assert 0.1 - 1e-9 <= sched[1]["fraction"] <= 0.4 + 1e-9
    assert sum(sched[0]["mixture"].values()) == pytest.approx(1.0)
    assert set(s["recommendation"]) == {f"{p}/d{i}" for p in ("pre", "anneal") for i in range(4)}
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["schedule"] == sched
    from bomix.store import StoreReader

    with StoreReader(tmp_path) as st:
        runs = st.load(st.get_meta("domains"))[0]
    assert len(runs) == 6 and all(len(r.spec.mixture) == 8 for r in runs)
    assert len({tuple(np.round(r.spec.mixture.weights, 6)) for r in runs}) == 6
    # a resumed campaign repeats nothing
    with Campaign(SyntheticBackend(k=4, anneal=0.5, noise=0.01), RandomPolicy(scale="20M", steps=1000),
                  budget=0.05, seed=1, directory=tmp_path, problem=ProblemConfig(phases=ranged), max_runs=6) as c:
        s2 = c.run()
    assert s2["n_runs"] == 6 and s2["schedule"] == sched
    # `bomix show` reads the phases back from the store's meta and shows the schedule
    from bomix.study.show import format_report, report

    rep = report(tmp_path)
    assert [p["phase"] for p in rep["summary"]["schedule"]] == ["pre", "anneal"]
    assert rep["summary"]["schedule"][1]["fraction"] == pytest.approx(sched[1]["fraction"])
    assert "recommended schedule" in format_report(rep) and "phase anneal (" in format_report(rep)


@pytest.mark.parametrize("kind", ["linear", "lightgbm"])
def test_regmix_draws_each_phase_and_recommends_a_schedule(tmp_path, kind):
    pytest.importorskip("lightgbm")
    from bomix.policies.laws.regmix import RegMixPolicy

    pol = RegMixPolicy(n_runs=24, kind=kind, scale="20M", steps=1000, n_samples=5000, top_k=64)
    with Campaign(SyntheticBackend(k=4, anneal=0.5), pol, budget=0.2, seed=0, directory=tmp_path,
                  problem=ProblemConfig(phases=TWO)) as c:
        s = c.run()
    assert s["n_runs"] == 24 and len(s["schedule"]) == 2
    from bomix.store import StoreReader

    with StoreReader(tmp_path) as st:
        W = np.array([r.spec.mixture.weights for r in st.load(st.get_meta("domains"))[0]])
    f = W.reshape(-1, 2, 4).sum(-1)
    assert np.allclose(f, [0.8, 0.2])  # every design run is a schedule of the space
    per_phase = W.reshape(-1, 2, 4) / f[..., None]
    assert np.abs(per_phase[:, 0] - per_phase[:, 1]).sum(-1).mean() > 0.3  # the phases are drawn independently
