"""Proposals (what a policy may propose) and a Space with a fidelity grid (which fidelities a backend answers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bomix.backends.replay import ReplayBackend
from bomix.backends.replay.build import build
from bomix.runtable import validate
from bomix.campaign import build_problem, run_campaign
from bomix.errors import BomixError
from bomix.fidelity import FidelityGrid
from bomix.policies.base import Policy
from bomix.proposals import Proposals, TrustRegion, tv_distance
from bomix.runs import RunSpec
from bomix.space import Fidelity, Mixture, Scale, Space


def small_table(seed: int = 0) -> pd.DataFrame:
    """RegMix-shaped: many runs at a small scale and few steps, few at the target (final rows only)."""
    rng = np.random.default_rng(seed)
    rows = []
    for scale, params, steps, n in (("s", 1e6, 100, 12), ("m", 6e7, 100, 8), ("l", 1e9, 2000, 6)):
        for i, w in enumerate(rng.dirichlet(np.ones(3), n)):
            loss = 3.0 + (w[0] - 0.5) ** 2 - 0.1 * np.log(params / 1e6)
            rows.append({"run_id": f"{scale}{i}", "scale": scale, "params": params, "step": steps,
                         "w:a": w[0], "w:b": w[1], "w:c": w[2], "m:loss": loss})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def pool_sim(tmp_path_factory) -> ReplayBackend:
    out = build(validate(small_table()), tmp_path_factory.mktemp("p") / "pool", mode="pool", name="small")
    return ReplayBackend(str(out))


def test_space_with_grid_refuses_other_fidelities():
    grid = FidelityGrid.from_pairs([("s", 100), ("m", 100), ("l", 2000)])
    sp = Space(("a", "b"), [Scale("s", 1e6), Scale("m", 6e7), Scale("l", 1e9)], 100, 2000, grid=grid)
    assert sp.fidelity_grid() == [Fidelity("s", 100), Fidelity("m", 100), Fidelity("l", 2000)]
    assert sp.step_grid == (100, 2000)
    with pytest.raises(BomixError, match="l@100 has no logged data"):
        sp.check_fidelity(Fidelity("l", 100))
    # GP decode snaps to an answered fidelity
    (_, f), = sp.decode(np.array([[0.5, 0.5, 1.0, 0.0]]))
    assert sp.allows(f)
    assert sp.with_constraints(lower={"a": 0.1}).grid is grid


def test_pool_proposals_fidelities_pool_free_snap(pool_sim):
    props = build_problem(pool_sim).proposals
    assert props.is_pool and props.fidelities() == [Fidelity("s", 100), Fidelity("m", 100), Fidelity("l", 2000)]
    P = props.pool(Fidelity("l", 2000))
    assert P.shape == (6, 3)
    used = [RunSpec(Mixture(P[0]), "l", 2000)]
    assert len(props.free(Fidelity("l", 2000), used)) == 5
    w = props.snap(P[0] + np.array([0.01, -0.01, 0.0]), Fidelity("l", 2000), used)
    assert not np.allclose(w, P[0]) and any(np.allclose(w, p) for p in P[1:])
    assert props.snap_fidelity("l", 100) == Fidelity("l", 2000)
    assert props.allows(Mixture(P[1]), Fidelity("l", 2000)) and not props.allows(Mixture([1, 0, 0]), Fidelity("l", 2000))
    with pytest.raises(BomixError, match="no logged data"):
        props.check_fidelity(Fidelity("s", 2000))
    rng = np.random.default_rng(0)
    assert len(props.sample(10, rng, Fidelity("l", 2000), used=used)) == 5


def test_continuous_proposals_and_trust_region():
    sp = Space(("a", "b", "c"), [Scale("s", 1e6)], 100, 1000)
    C = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    tr = TrustRegion({Fidelity("s", 1000): C}, {Fidelity("s", 1000): 0.2}, by_scale={"s": C})
    props = Proposals(sp, trust=tr)
    assert not props.is_pool and props.pool(Fidelity("s", 1000)) is None
    W = np.array([[0.9, 0.1, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    assert props.distance(W, Fidelity("s", 1000)) == pytest.approx([0.1, 2 / 3])
    assert props.trusted(W, Fidelity("s", 1000)).tolist() == [True, False]
    # a step inside the scale's range but not logged: the scale's mixtures and its nearest radius
    assert props.radius(Fidelity("s", 500)) == 0.2 and props.trusted(W, Fidelity("s", 500)).tolist() == [True, False]
    assert Proposals(sp).trusted(W, Fidelity("s", 1000)).all()
    assert tv_distance(W, np.zeros((0, 3))).tolist() == [np.inf, np.inf]
    assert props.sample(4, np.random.default_rng(0), Fidelity("s", 1000)).shape == (4, 3)


class AsksUnlogged(Policy):
    """Asks for the target scale at the cheap step count: a fidelity RegMix-like logs never had."""

    name = "asks_unlogged"

    def ask(self, history, budget_left, n):
        return [RunSpec(self.space.center(), self.space.target.scale, self.space.min_steps)]

    def recommend(self, history):
        return self.space.center()


def test_campaign_refuses_an_unanswered_fidelity_before_dispatch(pool_sim, tmp_path):
    with pytest.raises(BomixError, match="l@100 has no logged data") as exc:
        run_campaign(pool_sim, AsksUnlogged(), budget=1.0, seed=0, directory=tmp_path)
    assert "\n" not in str(exc.value)
    from bomix.store import Store

    store = Store(tmp_path)
    try:
        assert store.load(pool_sim.space.domains)[1] == []  # nothing was dispatched
    finally:
        store.close()


class AsksOffPool(Policy):
    """Proposes the centre (never logged) at the pool's target fidelity, which the pool answers."""

    name = "asks_off_pool"

    def ask(self, history, budget_left, n):
        return [RunSpec(self.space.center(), self.space.target.scale, self.space.target.steps)]

    def recommend(self, history):
        return self.space.center()


def test_campaign_refuses_a_mixture_outside_the_pool_before_dispatch(pool_sim, tmp_path):
    from bomix.store import Store

    props = build_problem(pool_sim).proposals
    assert props.allows_fidelity(pool_sim.space.target) and len(props.pool(pool_sim.space.target))
    with pytest.raises(BomixError, match=r"is not in the pool at l@2000 .*proposals.snap") as exc:
        run_campaign(pool_sim, AsksOffPool(), budget=1.0, seed=0, directory=tmp_path)
    assert "\n" not in str(exc.value)
    store = Store(tmp_path)
    try:
        assert store.load(pool_sim.space.domains)[1] == []  # nothing was dispatched: no failed run at cost 0
    finally:
        store.close()
    w = props.pool(pool_sim.space.target)[0]
    props.check(Mixture(w, pool_sim.space.domains), pool_sim.space.target)  # a pool point passes


def test_grid_snapping_uses_the_spaces_fidelity_coordinates():
    sp = Space(domains=("a", "b"), scales=(Scale("s", 1e6), Scale("l", 1e8)), min_steps=100, max_steps=10000)
    fids = sp.fidelity_grid()
    c = sp.fidelity_coords(fids)
    assert c.shape == (len(fids), 2)
    assert c.tolist() == [[sp.scale_coord(f.scale), sp.step_coord(f.steps)] for f in fids]
    m = Mixture([0.5, 0.5])
    pool = Proposals(sp, pool=[(m, Fidelity("s", 100)), (m, Fidelity("s", 10000))])
    assert pool.snap_fidelity("l", 9000) == Fidelity("s", 10000)  # no pool point at "l": nearest in (s, t)
