"""mfms_ei (bomix/policies/bo/mfms_ei.py): the MFMS paper's rule."""

from bo_helpers import bound, play

from bomix.policies.bo import MFMSEIPolicy


def test_mfms_ei_freezes_hypers_after_the_initial_design():
    b, pol, h = bound(MFMSEIPolicy(n_init=4, restarts=1, search={"raw_samples": 8}, gp={"maxiter": 20},
                                    max_per_run=2))
    play(b, pol, h, 4)
    assert {s.tag for s in h.all_specs()} == {"init"}
    first = pol.ask(h, 5.0, 1)[0]
    h.results.append(b.run(first.with_(run_id="r4")))
    second = pol.ask(h, 5.0, 1)[0]
    assert first.meta["gp"] == second.meta["gp"]
    grid = set(h.space.fidelity_grid())
    assert first.fidelity in grid and second.fidelity in grid
