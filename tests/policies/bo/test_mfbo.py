"""mfbo (bomix/policies/bo/mfbo.py): EI at the target, the fidelity by information per unit cost."""

import numpy as np
import pytest
import torch
from bo_helpers import SMALL, bound, play, small

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.history import History
from bomix.policies.bo import MFBOPolicy
from bomix.policies.heuristics import RandomPolicy
from bomix.space import Mixture
from bomix.store import Store


def test_mfbo_proposals_respect_bounds():
    b, pol, h = bound(MFBOPolicy(n_init=2, **SMALL), lower={"d0": 0.3}, upper={"d1": 0.2})
    play(b, pol, h, 4)
    for s in pol.ask(h, 5.0, 2):
        assert h.space.feasible(s.mixture.weights[None])[0]
    assert h.space.feasible(pol.recommend(h).weights[None])[0]


def test_mfbo_continues_runs_and_charges_extra_steps_only(tmp_path):
    b = SyntheticBackend(k=3, seed=1)
    pol = MFBOPolicy(n_init=3, **SMALL)
    run_campaign(b, pol, budget=1.0, seed=1, directory=tmp_path, max_runs=15)
    runs = Store(tmp_path).to_pandas()["runs"]
    cont = runs[runs["resume_from"].notna()]
    assert len(cont), "expected at least one continuation in 15 runs"
    r = cont.iloc[0]
    parent = runs[runs["run_id"] == r["resume_from"]].iloc[0]
    assert r["scale"] == parent["scale"]
    assert r["charged"] == pytest.approx(b.cost_model(r["scale"], r["steps"], parent["steps"]))


def test_mfbo_beats_random_at_equal_budget():
    mf, rnd = [], []
    for seed in range(5):
        mf.append(run_campaign(SyntheticBackend(k=3, seed=seed), MFBOPolicy(n_init=3, **SMALL), budget=2.0,
                               seed=seed, max_runs=20)["regret"])
        rnd.append(run_campaign(SyntheticBackend(k=3, seed=seed), RandomPolicy(), budget=2.0, seed=seed)["regret"])
    assert np.median(mf) < np.median(rnd), (mf, rnd)


def test_mfbo_moves_on_from_a_mixture_with_nothing_left_to_run(monkeypatch):
    """When target-EI's best mixture is observed at every fidelity, its EI is penalised and another is run."""
    import bomix.policies.bo.mfbo as bo

    b, pol, h = bound(MFBOPolicy(n_init=3, continuation=False, compare_alternative=False,
                                 **small(linear_mean=False)))
    play(b, pol, h, 3)
    done = np.array([0.5, 0.3, 0.2])
    for i, f in enumerate(h.space.fidelity_grid()):  # measure `done` everywhere
        spec = pol.ask(h, 5.0, 1)[0].with_(run_id=f"d{i}", mixture=bo.Mixture(done), scale=f.scale, steps=f.steps)
        h.results.append(b.run(spec))
    other = np.array([0.1, 0.1, 0.8])
    calls = []

    def fake_maximize(acq, space, fids, rng, cfg, extra=None):
        """The plain acquisition "prefers" `done`; a penalised one is judged on its values."""
        W = torch.tensor(np.stack([done, other]), dtype=torch.double)
        v = acq(W, np.zeros(2, dtype=int)).detach().numpy()
        calls.append(v)
        i = 0 if not isinstance(acq, bo.partial) else int(np.argmax(v))
        return (done, other)[i], 0, float(v[i])

    monkeypatch.setattr(bo, "maximize", fake_maximize)
    spec = pol.ask(h, 5.0, 1)[0]
    assert np.allclose(spec.mixture.weights, other)
    assert len(calls) == 2 and calls[1][0] < calls[0][0] - 100  # the second search penalised `done`
    assert calls[1][1] == pytest.approx(calls[0][1])  # and nothing far from it


def test_an_expensive_run_at_w_star_competes_with_a_cheap_run_elsewhere(monkeypatch):
    """Only the target is left at w*: the next-best mixture's best fidelity is scored too (log EI + log fraction
    - log cost) and the better of the two runs."""
    import bomix.policies.bo.mfbo as bo

    b, pol, h = bound(MFBOPolicy(n_init=3, continuation=False, **SMALL))
    play(b, pol, h, 3)
    done = np.array([0.5, 0.3, 0.2])
    t = h.space.target
    for i, f in enumerate(f for f in h.space.fidelity_grid() if f != t):  # `done` measured everywhere but the target
        spec = pol.ask(h, 5.0, 1)[0].with_(run_id=f"d{i}", mixture=bo.Mixture(done), scale=f.scale, steps=f.steps)
        h.results.append(b.run(spec))
    other = np.array([0.1, 0.1, 0.8])
    calls = []

    def fake_maximize(acq, space, fids, rng, cfg, extra=None):
        calls.append(isinstance(acq, bo.partial))
        return (other if isinstance(acq, bo.partial) else done), 0, 0.0

    monkeypatch.setattr(bo, "maximize", fake_maximize)
    spec = pol.ask(h, 5.0, 1)[0]
    assert calls == [False, True]  # w* = done (only its target run left), then the alternative
    model, obs = pol.model(h)
    noise = bo.noise_variance(model)

    def score(w):
        s, g = pol._by_information(model, w, h, 5.0, [], noise)
        with torch.no_grad():
            post = model.posterior(pol.at_target(torch.tensor(w[None])).unsqueeze(-2))
            ei = bo.log_ei(post.mean.squeeze(), post.variance.squeeze().sqrt(), pol._incumbent(model, obs))
        return s, float(ei) + g

    (s_done, v_done), (s_other, v_other) = score(done), score(other)
    assert s_done.fidelity == t
    best = s_other if v_other > v_done else s_done
    assert np.allclose(spec.mixture.weights, best.mixture.weights) and spec.fidelity == best.fidelity


def test_penalty_is_local():
    from bomix.policies.bo.mfbo import _penalised

    acq = lambda W, g: torch.zeros(len(W), dtype=torch.double)  # noqa: E731
    W = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.48, 0.02], [0.0, 0.0, 1.0]], dtype=torch.double)
    v = _penalised(acq, W[:1], 0.05, W, np.zeros(3, dtype=int))
    assert v[0] < -1e3 and v[1] < -100 and v[2] == 0  # inside the radius: excluded; far away: untouched


def test_predict_gives_the_target_posterior_and_recommendation_is_conservative():
    b, pol, h = bound(MFBOPolicy(n_init=4, **SMALL))
    play(b, pol, h, 6)
    t = h.space.target
    w = h.space.center()
    h.results.append(b.run(pol.ask(h, 5.0, 1)[0].with_(run_id="t0", mixture=w, scale=t.scale, steps=t.steps,
                                                        resume_from=None, resume_step=0)))
    mean, sd = pol.predict(h, w)
    truth = h.objective.on_curve(h.results[-1].curve)[-1]
    assert sd >= 0 and abs(mean - truth) < 3 * sd + 1e-3  # observed there: the posterior knows it
    far = np.array([1.0, 0.0, 0.0])
    assert pol.predict(h, Mixture(far))[1] > sd  # a vertex nobody ran is more uncertain
    rec = pol.recommend(h)
    m_rec, sd_rec = pol.predict(h, rec)
    mu_c, sd_c = pol.predict(h, w)
    assert m_rec + pol.rec_kappa * sd_rec <= mu_c + pol.rec_kappa * sd_c + 1e-9  # argmin of mean + kappa sd
    assert RandomPolicy().predict(h, w) is None


def test_contrast_decisions_rank_by_differences_with_the_incumbent():
    """contrasts=True: the recommendation is the incumbent unless the model is confident of an improvement,
    and the chosen runs still find a better-than-random mixture at equal budget."""
    b, pol, h = bound(MFBOPolicy(n_init=4, contrasts=True, **small(offset=True)))
    play(b, pol, h, 10)
    model, obs = pol.model(h)
    ref = pol._incumbent_point(model, obs)[0]
    t = h.space.target
    W = np.unique(obs.w, axis=0)
    with torch.no_grad():
        mean = model.posterior(torch.tensor(h.space.encode(W, t.scale, t.steps))).mean.squeeze(-1)
    assert torch.allclose(ref[:-2], torch.tensor(W[int(torch.argmax(mean))]))  # the incumbent: best observed mean
    rec = pol.recommend(h)
    from bomix.acquisition.analytic import contrast
    with torch.no_grad():
        d, sd = contrast(model, torch.tensor(h.space.encode(rec.weights, t.scale, t.steps)), ref)
    assert float(d - pol.rec_kappa * sd) >= -1e-6  # never a mixture the model expects to be worse by > 1 sd
    opt = b.optimum(h.objective)[1]
    regret = b.true_value(rec, t, h.objective) - opt
    rand = [b.true_value(m, t, h.objective) - opt for m in
            (Mixture(w, h.space.domains) for w in h.space.sample(20, np.random.default_rng(0)))]
    assert regret < np.median(rand)


def test_before_any_target_run_the_prediction_is_a_scaling_law_extrapolation():
    """The GP alone reverts to the proxies' level at the target; the law brings it down, with an honest sd."""
    b, pol, h = bound(MFBOPolicy(n_init=4, **SMALL))
    play(b, pol, h, 8)
    t = h.space.target
    assert not any(r.spec.scale == t.scale and r.spec.steps == t.steps for r in h.results)
    w = h.space.center()
    mean, sd = pol.predict(h, w)
    truth = b.true_value(w, t, h.objective)
    model, obs = pol.model(h, refit=False)
    with torch.no_grad():
        gp_mean = -float(model.posterior(pol.at_target(torch.tensor(w.weights[None], dtype=torch.double))).mean)
    assert mean < obs.y.min()  # more compute: better than every proxy
    assert abs(truth - mean) < 2 * sd
    assert abs(truth - mean) < abs(truth - gp_mean)


def test_mfbo_posterior_chunk_is_honoured_and_decides_alike(monkeypatch):
    """``gp.posterior_chunk`` evaluates the acquisition's candidates as joint posteriors (faster at thousands of
    observations): the field reaches the policy, the search goes through it, and the decision is the same."""
    import bomix.policies.bo.mfbo as bo
    from bomix.policies.bo import SFBOPolicy

    assert MFBOPolicy().gp_cfg.posterior_chunk == 256  # mfbo's default since 2026-12-07 (session 18)
    assert SFBOPolicy().gp_cfg.posterior_chunk == 0  # the other GP policies keep the q-batch posterior
    specs, real = {}, bo.pointwise
    for chunk in (0, 5):
        b, pol, h = bound(MFBOPolicy(n_init=3, **small(posterior_chunk=chunk)))
        assert pol.gp_cfg.posterior_chunk == chunk
        play(b, pol, h, 4)
        seen = []
        monkeypatch.setattr(bo, "pointwise", lambda m, X, c: seen.append(c) or real(m, X, c))
        s = pol.ask(h, 5.0, 1)[0]
        assert seen and set(seen) == {chunk}
        specs[chunk] = (s.scale, s.steps, s.mixture.weights)
    assert specs[0][:2] == specs[5][:2]
    np.testing.assert_allclose(specs[0][2], specs[5][2], atol=1e-6)


def test_mfbo_recommends_two_sds_below_the_mean_by_default_and_the_rule_never_changes_the_runs(tmp_path):
    from bomix.policies.bo import SFBOPolicy
    from bomix.policies.bo.mfbo import MFBO_REC_KAPPA

    assert MFBOPolicy().rec_kappa == MFBO_REC_KAPPA == 2.0
    assert SFBOPolicy().rec_kappa == 1.0  # the other GP policies keep theirs
    assert MFBOPolicy(rec_kappa=0.5).rec_kappa == 0.5
    stores = {}
    for kappa in (1.0, 2.0):
        d = tmp_path / f"k{kappa:g}"
        run_campaign(SyntheticBackend(k=3, seed=2), MFBOPolicy(n_init=3, rec_kappa=kappa, **SMALL), budget=2.0, seed=2,
                     directory=d, max_runs=10)
        stores[kappa] = Store(d).to_pandas()
    runs = [stores[k]["runs"][["run_id", "scale", "steps", "spec"]] for k in (1.0, 2.0)]
    assert runs[0].equals(runs[1])  # decisions never read the recommendation
    recs = [stores[k]["recommendations"]["mixture"].tolist() for k in (1.0, 2.0)]
    assert recs[0] != recs[1]  # the rule is what changed


def test_mfbo_run_noise_option_reaches_the_likelihood_and_the_stored_warm_starts(tmp_path):
    """``policy.gp.run_noise=true`` from the config builds the run-effect likelihood, and every decision stores its
    fitted run variance with its spec (the next decision's warm start); the model itself: tests/surrogate."""
    from bomix.app import build, compose
    from bomix.store import StoreReader
    from bomix.surrogate.run_noise import RunNoiseLikelihood

    _, policy, _, _, _ = build(compose(["backend=synthetic", "policy=mfbo", "policy.gp.run_noise=true"]))
    assert policy.gp_cfg.run_noise
    b = SyntheticBackend(k=3, seed=2, noise=0.02)
    pol = MFBOPolicy(n_init=4, **small(run_noise=True))
    s = run_campaign(b, pol, budget=1.0, seed=2, directory=tmp_path, max_runs=8)
    assert s["n_runs"] == 8 and s["regret"] is not None
    with StoreReader(tmp_path) as store:
        results, _, _ = store.load(b.space.domains)
    decided = [r.spec.meta["gp"] for r in results if r.spec.meta and "gp" in r.spec.meta]
    assert decided and all("likelihood.raw_run_variance" in gp for gp in decided)
    h = History(b.space, pol.problem.objective, results, [], 1.0, s["budget_used"])
    assert isinstance(pol.model(h)[0].likelihood, RunNoiseLikelihood)


def test_mfbo_init_design_chooses_the_initial_mixtures_and_only_where_a_design_is_space_filling():
    """``init_design=simplex`` runs the uniform-on-the-simplex design (the points space_filling draws from the
    campaign seed); random-design policies refuse the key in one line."""
    from bomix.errors import BomixError
    from bomix.policies.bo import SFBOPolicy
    from bomix.policies.bo.base import SALT_INIT
    from bomix.policies.design import space_filling

    designs = {}
    for kind in ("dirichlet", "simplex"):
        _, pol, h = bound(MFBOPolicy(n_init=6, init_design=kind, **SMALL), k=4)
        W = np.array([s.mixture.weights for s in pol.ask(h, 5.0, 6)])
        expect = space_filling(h.space, 6, np.random.default_rng([7, SALT_INIT]), kind=kind)
        assert np.allclose(W, expect), kind
        designs[kind] = W
    assert not np.allclose(designs["dirichlet"], designs["simplex"])
    with pytest.raises(BomixError, match="sfbo: init_design applies to the space-filling designs"):
        SFBOPolicy(init_design="simplex")
    with pytest.raises(BomixError, match="init_design must be one of dirichlet, simplex"):
        MFBOPolicy(init_design="sobol")
