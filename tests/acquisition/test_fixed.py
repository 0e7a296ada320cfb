"""bomix.acquisition.fixed: mixtures at fixed fidelities -> GP inputs, the same numbers as Space.encode."""

import numpy as np
import torch

from bomix.acquisition.fixed import FixedFidelities, project_to_target


def test_fixed_fidelities_give_exactly_the_encoders_inputs(space):
    fids = space.fidelity_grid()
    at = FixedFidelities(space, fids)
    W = space.sample(5, np.random.default_rng(0))
    Wt = torch.tensor(W, dtype=torch.double)
    for i, f in enumerate(fids):  # one fidelity for every row
        assert torch.equal(at(Wt, i), torch.tensor(space.encode(W, f.scale, f.steps), dtype=torch.double))
    idx = np.array([0, 3, 1, len(fids) - 1, 3])  # one fidelity per row
    want = np.vstack([space.encode(W[r], fids[i].scale, fids[i].steps) for r, i in enumerate(idx)])
    assert torch.equal(at(Wt, idx), torch.tensor(want, dtype=torch.double))
    each = at.each(Wt[:1])
    assert each.shape == (len(fids), space.k + 2) and torch.equal(each, at(Wt[:1].expand(len(fids), -1),
                                                                          np.arange(len(fids))))
    assert torch.equal(at.wrap(lambda X: X.sum(-1))(Wt, idx), at(Wt, idx).sum(-1))


def test_gradients_flow_to_the_mixture_only(space):
    at = FixedFidelities(space, [space.target])
    W = torch.tensor(space.sample(3, np.random.default_rng(1)), dtype=torch.double, requires_grad=True)
    (g,) = torch.autograd.grad(at(W).pow(2).sum(), W)
    assert torch.equal(g, 2 * W.detach())


def test_project_to_target_sets_the_target_coordinates(space):
    t = space.target
    assert space.fidelity_coords([t]).tolist() == [[1.0, 1.0]]
    X = FixedFidelities(space, space.fidelity_grid())(torch.tensor(space.sample(4, np.random.default_rng(2))),
                                                        np.arange(4))
    P = project_to_target(space.dim)(X)
    assert torch.equal(P[..., :-2], X[..., :-2]) and (P[..., -2:] == 1.0).all()
