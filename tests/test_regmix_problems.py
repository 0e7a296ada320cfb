"""The RegMix problems of issue 24's benchmarks (conf/problem/regmix_mean13.yaml, regmix_code_web.yaml): they compose
with backend=regmix, a tiny campaign runs end to end, the constraint binds at the unconstrained optimum, the
trade-off's true front is not a single point, and the benchmark scripts select them with --problem regmix."""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
#: two random runs at the target (1B@23842, cost 1 each): the cheapest campaign that reaches the truth's scoring
TINY = ["policy=random", "budget=2", "max_runs=2", "progress=false"]

pytestmark = pytest.mark.slow


def _run(overrides: list[str]) -> dict:
    from bomix.app import compose, run_from_config

    with tempfile.TemporaryDirectory() as d:
        return run_from_config(compose(overrides), d)


def test_constrained_regmix_campaign_and_the_constraint_binds():
    import constraints as bench

    s = _run(["backend=regmix", "problem=regmix_mean13", *TINY, "seed=1"])
    assert s["objective"] == "mean13_vs_pile" and s["n_runs"] == 2
    c = s["constraints"]
    assert c["bounds"] == ["pubmed_central <= 1.75778"]  # the Pile's mixture's 1.74038 + 1%
    assert isinstance(c["feasible"], bool) and s["regret"] >= 0
    backend, problem, best = bench.truth("regmix")
    assert abs(best - s["optimum_value"]) < 1e-9  # the benchmark scores against the campaign's optimum
    ref = bench.score(backend, problem, best, bench.reference_mixture("human"))
    assert ref["feasible"] and ref["extrapolated"] is False and ref["regret"] > 0.01
    assert ref["slack"][0] == pytest.approx(0.01 * 1.74038, abs=1e-4)  # the reference is the objective's
    free, value = backend.optimum(problem.objective)  # unconstrained (inside the trust region)
    unc = bench.score(backend, problem, best, free.to_dict())
    assert not unc["feasible"] and value < best  # the constraint cuts the unconstrained optimum off


def test_regmix_tradeoff_campaign_and_its_front_is_wide(monkeypatch):
    import bomix.pareto

    monkeypatch.setattr(bomix.pareto, "TRUE_FRONT_DRAWS", {2: 1000})  # a coarser true front: a faster test
    s = _run(["backend=regmix", "problem=regmix_code_web", *TINY, "seed=0"])
    p = s["pareto"]
    assert p["objectives"] == ["code", "web"] and p["source"] == "observed" and p["hv_regret"] is not None
    assert 0 <= p["hv_regret_frac"] <= 1
    from bomix.app import build, compose
    from bomix.campaign import build_problem

    backend, _, _, pcfg, _ = build(compose(["backend=regmix", "problem=regmix_code_web"]))
    problem = build_problem(backend, pcfg)
    _, Y = bomix.pareto.true_front(backend, problem.objectives, problem.space, n=1000)
    assert len(Y) >= 5 and np.all(Y.max(0) - Y.min(0) > 0.05)  # the objectives conflict over > 5% each
    # the scalar objective is the mean of the two objectives (equal weights over the six losses)
    W = np.vstack([np.full(problem.space.k, 1 / problem.space.k), np.eye(problem.space.k)[11]])
    t = problem.space.target
    both = np.column_stack([backend.true_values(W, t, o) for o in problem.objectives]).mean(1)
    assert np.allclose(backend.true_values(W, t, problem.objective), both)


def test_benchmark_scripts_refuse_what_regmix_lacks():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "multi_objective.py"), "--problem", "regmix",
                          "--problems", "3"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "--problem regmix has [2] objectives, not [3]" in out.stderr
    import multi_objective as mo

    assert mo.SETS["synthetic"]["problems"] is mo.PROBLEMS and mo.SETS["regmix"]["out"] == "regmix"
    assert "policy.fidelities=[1M@1000,60M@1000,1B@23842]" in mo.policies(mo.SETS["regmix"]["model"])["mobo"]
