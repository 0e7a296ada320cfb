"""benchmarks/proxy_oracle.py: ground-truth target regret of each proxy fidelity's exact optimum."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from proxy_oracle import PROBLEMS, main, oracle  # noqa: E402


def test_oracle_scores_every_proxy_fidelity_on_the_target():
    r = oracle(PROBLEMS["synthetic"], samples=300, topk=10, alpha=1.0)
    from bomix.app import build, compose
    from bomix.campaign import build_problem

    backend, _, _, pcfg, _ = build(compose(PROBLEMS["synthetic"]))
    problem = build_problem(backend, pcfg)
    t = problem.space.target
    expected = {f"{f.scale}@{f.steps}" for f in problem.proposals.fidelities() if f != t}
    assert {f["fidelity"] for f in r["fidelities"]} == expected and r["target"] == f"{t.scale}@{t.steps}"
    for f in r["fidelities"]:
        assert -1e-6 <= f["exact"] < r["uniform"] and f["topk"] >= -1e-6  # regrets against the true optimum
    # the synthetic law moves the optimum with scale: the cheapest proxy's optimum is not the target's
    cheapest = min(r["fidelities"], key=lambda f: f["cost"])
    assert cheapest["exact"] > 1e-4


def test_unknown_problem_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["proxy_oracle.py", "--problems", "nope"])
    with pytest.raises(SystemExit, match="unknown problem"):
        main()
