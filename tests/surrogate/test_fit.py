"""bomix.surrogate.fit: warm starts carried by the specs, fits on a history, fantasies."""

import numpy as np
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import build_problem
from bomix.history import History
from bomix.runs import RunSpec
from bomix.space import Mixture
from bomix.surrogate.fit import fantasize, fit_history, spec_meta, warm_start
from bomix.surrogate.gp import GPConfig, hypers_of
from bomix.surrogate.observations import ObservationEncoder

CFG = GPConfig(maxiter=15)


def _data(n: int = 5):
    b = SyntheticBackend(k=3, seed=0)
    p = build_problem(b)
    h = History(p.space, p.objective)
    rng = np.random.default_rng(0)
    grid = p.space.fidelity_grid()
    for i in range(n):
        f = grid[rng.integers(len(grid))]
        h.results.append(b.run(RunSpec(Mixture(p.space.sample(1, rng)[0]), f.scale, f.steps, run_id=f"r{i}")))
    enc = ObservationEncoder(p.space, max_per_run=2)
    return h, enc, *enc.tensors(enc.observations(h))


def test_the_warm_start_is_the_latest_specs_fit_and_travels_with_specs():
    h, enc, X, Y = _data()
    assert warm_start(h) is None
    model = fit_history(X, Y, h, CFG)
    meta = spec_meta(model)
    assert meta == {"gp": hypers_of(model)}
    t = h.space.target
    older = {k: [0.0 for _ in v] for k, v in meta["gp"].items()}
    h.pending.append(RunSpec(h.space.center(), t.scale, t.steps, meta={"gp": older}, run_id="p0"))
    assert warm_start(h) == older
    h.pending.append(RunSpec(h.space.center(), t.scale, t.steps, meta=meta, run_id="p1"))
    h.pending.append(RunSpec(h.space.center(), t.scale, t.steps, run_id="p2"))  # no fit with it: skipped
    assert warm_start(h) == meta["gp"]  # the latest spec that carries a fit wins


def test_frozen_fits_keep_the_warm_hypers():
    h, enc, X, Y = _data()
    first = fit_history(X, Y, h, CFG)
    h.pending.append(RunSpec(h.space.center(), h.space.target.scale, h.space.target.steps,
                             meta=spec_meta(first), run_id="p"))
    frozen = fit_history(X[:-1], Y[:-1], h, CFG, frozen=True)
    assert hypers_of(frozen) == hypers_of(first)


def test_fantasies_condition_at_the_posterior_mean():
    h, enc, X, Y = _data()
    model = fit_history(X, Y, h, CFG)
    assert fantasize(model, None, CFG) is model
    Xf = enc.spec_inputs([RunSpec(h.space.center(), h.space.target.scale, h.space.target.steps)])
    with torch.no_grad():
        before = model.posterior(Xf)
        after = fantasize(model, Xf, CFG).posterior(Xf)
    assert torch.allclose(after.mean, before.mean, atol=1e-6)
    assert (after.variance < before.variance).all()


def test_a_failed_fantasy_is_reported_and_skipped(monkeypatch):
    from linear_operator.utils.errors import NotPSDError

    h, enc, X, Y = _data()
    model = fit_history(X, Y, h, CFG)

    def not_psd(*a, **k):
        raise NotPSDError("not PSD")

    monkeypatch.setattr(type(model), "condition_on_observations", not_psd)
    reasons = []
    assert fantasize(model, X[:1], CFG, on_fallback=reasons.append) is model
    assert reasons == ["fantasy failed"]
