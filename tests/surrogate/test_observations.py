"""bomix.surrogate.observations: a history -> the GP's training data and inputs."""

import numpy as np
import pytest
import torch

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import build_problem
from bomix.history import History
from bomix.runs import RunSpec
from bomix.space import Mixture
from bomix.surrogate.observations import ObservationEncoder, dedupe


def _history(n_runs: int, seed: int = 0):
    """Runs of random mixtures at random grid fidelities, finished in order."""
    b = SyntheticBackend(k=3, seed=0)
    p = build_problem(b)
    h = History(p.space, p.objective)
    rng = np.random.default_rng(seed)
    grid = p.space.fidelity_grid()
    for i in range(n_runs):
        f = grid[rng.integers(len(grid))] if i else p.space.target
        spec = RunSpec(Mixture(p.space.sample(1, rng)[0]), f.scale, f.steps, run_id=f"r{i}")
        h.results.append(b.run(spec))
    return b, h


@pytest.mark.parametrize("per_run", [1, 2, 3])
def test_subsampled_checkpoints_always_keep_each_runs_last(per_run):
    _, h = _history(4)
    obs = h.observations(checkpoints=True, max_per_run=per_run)
    for r in h.ok:
        mine = obs.steps[obs.run_ids == r.spec.run_id]
        assert 1 <= len(mine) <= per_run and mine.max() == r.curve.steps[-1]


def test_max_obs_keeps_the_latest_runs_and_every_target_observation():
    _, h = _history(12)
    enc = ObservationEncoder(h.space, max_per_run=4, max_obs=6)
    obs = enc.observations(h)
    assert 2 <= len(obs) <= 12 and len(set(obs.run_ids)) == len(obs)  # one (the last) checkpoint per run
    t = h.space.target
    assert "r0" in set(obs.run_ids[(obs.scales == t.scale) & (obs.steps == t.steps)])  # the target run stays
    assert "r11" in set(obs.run_ids)  # the latest run stays
    many = ObservationEncoder(h.space, max_per_run=4, max_obs=2000).observations(h)
    assert len(many) > len(obs)
    assert min(many.steps) >= 0.25 * min(h.space.step_grid)  # min_step_frac


def test_single_fidelity_sees_only_final_target_values():
    _, h = _history(6)
    obs = ObservationEncoder(h.space, checkpoints=False).observations(h)
    t = h.space.target
    assert len(obs) >= 1 and (obs.scales == t.scale).all() and (obs.steps == t.steps).all()


def test_continued_runs_repeat_no_observation():
    b, h = _history(3)
    parent = h.results[1].spec
    child = RunSpec(parent.mixture, parent.scale, max(h.space.step_grid), resume_from=parent.run_id,
                    resume_step=parent.steps, run_id="c")
    assert child.steps > parent.steps
    h.results.append(b.run(child))  # its curve repeats the parent's checkpoints
    obs = h.observations(checkpoints=True)
    keys = {(o.tobytes(), s, int(st)) for o, s, st in zip(obs.w, obs.scales, obs.steps)}
    d = dedupe(obs)
    assert len(d) == len(keys) < len(obs)


def test_tensors_and_spec_inputs_are_the_spaces_encoding():
    _, h = _history(4)
    enc = ObservationEncoder(h.space)
    obs = enc.observations(h)
    X, Y = enc.tensors(obs)
    assert X.dtype == Y.dtype == torch.double and Y.shape == (len(obs), 1)
    assert torch.equal(X, torch.tensor(obs.X(h.space))) and torch.equal(Y[:, 0], torch.tensor(-obs.y))
    specs = [r.spec for r in h.results]
    Xs = enc.spec_inputs(specs)
    assert Xs.shape == (len(specs), h.space.k + 2)
    assert torch.equal(Xs[1], torch.tensor(h.space.encode(specs[1].mixture.weights, specs[1].scale,
                                                          specs[1].steps)[0]))
    assert enc.spec_inputs([]) is None
