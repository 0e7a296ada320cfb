"""Every online method as a policy (built from its conf/policy yaml) in a synthetic campaign whose
outcome has a known direction; stages, target mode, history labels, resume."""

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.config import instantiate
from bomix.store import Store

CONF = Path(__file__).resolve().parents[3] / "conf" / "policy"
# domain 2 cannot be learned (no data scaling, no transfer) and does not count in the target
USELESS = {"B": [1.0, 0.8, 0.0], "T": np.eye(3).tolist(), "u": [1.0, 1.0, 0.0]}
SHORT = {  # published defaults assume ~20k steps; these runs have 2000
    "odm": {"warmup": 100}, "ado": {"start": 200, "refit_every": 200}, "skillit": {}, "aioli": {},
    "doremi": {}, "doremi_online": {}, "sheared": {}, "doge": {},
}


# Aioli moves by exp(eta x column sums) once per 250-step round: 8 rounds here, so a smaller move
LIMIT = {"aioli": 0.31}


def backend(law=USELESS, **kw):
    return SyntheticBackend(domains=["d0", "d1", "d2"], scales={"20M": 20e6, "60M": 60e6}, min_steps=100,
                            max_steps=2000, eval_every=100, seed=0, law=law, **kw)


def policy(name, **over):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    if SHORT[name]:
        cfg.controller.params = {**(cfg.controller.get("params") or {}), **SHORT[name]}
    if name == "skillit":
        cfg.controller.every = 100
    cfg = OmegaConf.merge(cfg, over)
    p = instantiate(cfg, "policy")
    p.name = name
    return p


def campaign(name, tmp_path, law=USELESS, budget=3.0, **over):
    b = backend(law)
    summary = run_campaign(b, policy(name, **over), budget=budget, seed=0, directory=tmp_path / name)
    return summary, np.array([summary["recommendation"][d] for d in ("d0", "d1", "d2")])


@pytest.mark.parametrize("name", ["doremi", "doremi_online", "sheared", "aioli", "ado", "doge", "skillit"])
def test_method_moves_weight_away_from_the_domain_nothing_can_learn(name, tmp_path):
    summary, w = campaign(name, tmp_path)
    assert summary["n_ok"] == summary["n_runs"] >= 1
    assert w[2] < LIMIT.get(name, 0.2), w
    assert summary["regret"] < campaign_uniform_regret(tmp_path)


def campaign_uniform_regret(tmp_path):
    b = backend()
    opt = b.optimum(b.default_objective)[1]
    return b.true_value(b.space.center(), b.space.target, b.default_objective) - opt


def test_odm_favours_the_high_irreducible_loss_domain(tmp_path):
    # domain 0: a large loss that no data can lower; ODM's known bias upweights it anyway
    law = {"E": [4.0, 1.5, 1.5], "B": [0.0, 1.0, 1.0], "T": np.eye(3).tolist(), "u": [1.0, 1.0, 1.0]}
    for mode in ("bandit", "mixed"):
        _, w = campaign("odm", tmp_path / mode, law=law, controller={"params": {"mode": mode}})
        assert w[0] > 1 / 3 + 0.005 and w[0] == w.max(), (mode, w)


def test_doremi_iterated_rounds_and_stages_from_tags(tmp_path):
    summary, _ = campaign("doremi", tmp_path, rounds=2)
    st = Store(tmp_path / "doremi")
    runs = st.to_pandas()["runs"]
    assert runs["tag"].tolist() == ["ref:0", "online:0", "ref:1", "online:1"]
    assert [c if isinstance(c, str) else None for c in runs["controller"]] == [None, "doremi", None, "doremi"]
    results, _, _ = st.load(["d0", "d1", "d2"])
    ref1 = next(r for r in results if r.spec.tag == "ref:1")
    avg0 = next(r for r in results if r.spec.tag == "online:0").info["controller"]["average"]
    np.testing.assert_allclose(ref1.spec.mixture.weights, avg0, atol=1e-9)  # round 2 trains on round 1's average
    st.close()


@pytest.mark.parametrize("reference", ["curve", "law"])
def test_doremi_with_a_stored_curve_or_law_reference(reference, tmp_path):
    summary, w = campaign("doremi", tmp_path, reference=reference)
    assert w[2] < 0.2


def test_online_checkpoints_are_labelled_with_the_realised_mixture(tmp_path):
    from bomix.history import History

    b = backend()
    run_campaign(b, policy("doge"), budget=3.0, seed=0, directory=tmp_path / "d")
    st = Store(tmp_path / "d")
    results, _, _ = st.load(["d0", "d1", "d2"])
    st.close()
    h = History(b.space, b.default_objective, results)
    obs = h.observations()
    r = results[0]
    assert np.allclose(obs.w[0], r.info["controller"]["trace"]["realised"][0])
    assert not np.allclose(obs.w[-1], r.spec.mixture.weights)  # not the initial mixture
    np.testing.assert_allclose(obs.w[-1], r.info["controller"]["realised"], atol=1e-9)


def test_target_mode_reports_unclipped_regret_and_gain(tmp_path):
    b = backend(rho=0.999)
    s = run_campaign(b, policy("doge", mode="target"), budget=3.0, seed=0, directory=tmp_path / "t")
    assert s["gain_over_static"] == pytest.approx(-s["regret"])
    opt = b.optimum(b.default_objective)[1]
    assert s["regret"] == pytest.approx(s["true_value"] - opt)  # no clipping at 0


def test_a_rerun_from_scratch_reproduces_the_trajectory(tmp_path):
    a, _ = campaign("odm", tmp_path / "a")
    b, _ = campaign("odm", tmp_path / "b")
    assert a["recommendation"] == b["recommendation"]


def test_unsupported_backend_policy_error(tmp_path):
    from bomix.errors import BomixError

    class Static(SyntheticBackend):
        supports_controller = False

    with pytest.raises(BomixError, match="cannot host"):
        run_campaign(Static(k=3, scales={"20M": 20e6}, min_steps=100, max_steps=500, eval_every=100),
                     policy("odm"), budget=1.0, directory=tmp_path / "x")


def test_killed_online_run_is_rerun_from_scratch_with_the_same_trajectory(tmp_path):
    from bomix.campaign import Campaign
    from bomix.history import History

    full, _ = campaign("odm", tmp_path / "full")
    # a campaign killed right after dispatching its online run: the spec is in the store, pending
    camp = Campaign(backend(), policy("odm"), budget=3.0, seed=0, directory=tmp_path / "killed")
    h = History(camp.problem.space, camp.problem.objective, budget=3.0)
    spec = camp.ledger.validate(camp.policy.ask(h, 3.0, 1)[0], h).with_(run_id="r00000", seed=0)
    camp.store.add_pending([(spec, camp.backend.cost(spec))])
    camp.close()
    resumed = run_campaign(backend(), policy("odm"), budget=3.0, seed=0, directory=tmp_path / "killed")
    assert resumed["recommendation"] == full["recommendation"]
    a, b = Store(tmp_path / "full" / "odm"), Store(tmp_path / "killed")
    ra, rb = a.load(["d0", "d1", "d2"])[0][0], b.load(["d0", "d1", "d2"])[0][0]
    assert ra.spec.controller == rb.spec.controller and ra.info["controller"] == rb.info["controller"]
    a.close(), b.close()
