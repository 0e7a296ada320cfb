"""`bomix run` with a trade-off (problem=synthetic_moo, policy=mobo): the Pareto set in summary.json and pareto.png,
`bomix bench` reporting hypervolume regret, and bad trade-off settings refused in one line (exit 2)."""

import json
from functools import partial

import cli_helpers
import pytest
from cli_helpers import ENV, assert_run_refused

#: campaigns here run mobo: one thread, a longer timeout
bomix = partial(cli_helpers.bomix, env=dict(ENV, OMP_NUM_THREADS="1"), timeout=600)

#: a small mobo: a proxy and the target fidelity, a light GP and search
FAST_MOBO = ["policy=mobo", "policy.fidelities=[150M@20000,1B@20000]", "policy.n_init=4", "max_runs=7", "budget=3",
             "policy.search.raw_samples=32", "policy.search.starts=2", "policy.search.iters=5", "policy.gp.maxiter=10",
             "policy.mc_samples=16", "policy.n_candidates=128"]


def test_mobo_campaign_and_bench_report_the_front(tmp_path):
    camp = tmp_path / "mobo"
    out = bomix("run", "problem=synthetic_moo", *FAST_MOBO, "progress=false", f"hydra.run.dir={camp}")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    p = json.loads((camp / "summary.json").read_text())["pareto"]
    assert s["pareto"] == p and s["n_runs"] == 7
    assert p["objectives"] == ["code", "web"] and p["source"] == "model" and len(p["set"]) >= 2
    assert all(set(m["predicted"]["code"]) == {"mean", "sd"} for m in p["set"])
    assert p["hv_regret"] is not None and 0 <= p["hv_regret"] < p["hv_true"]
    assert (camp / "pareto.png").exists()
    assert f"trade-off code vs web: Pareto set of {len(p['set'])} mixtures (predicted by the model); hypervolume " \
           "regret" in out.stderr
    assert "the recommendation is the set's pick for the preference (code 0.7, web 0.3): code " in out.stderr
    rnd = bomix("run", "problem=synthetic_moo", "policy=random", "budget=3", "progress=false",
                f"hydra.run.dir={tmp_path / 'random'}")
    assert rnd.returncode == 0, rnd.stderr
    bench = bomix("bench", str(tmp_path / "mobo"), str(tmp_path / "random"), "--out", str(tmp_path / "bench"),
                  "--no-plots")
    assert bench.returncode == 0, bench.stderr
    assert "hypervolume regret (final)" in bench.stdout
    rows = {r["policy"]: r for r in json.loads((tmp_path / "bench" / "results.json").read_text())["final"]}
    assert rows["mobo"]["hv_regret_median"] == pytest.approx(p["hv_regret"])
    assert rows["random"]["hv_regret_median"] == pytest.approx(
        json.loads((tmp_path / "random" / "summary.json").read_text())["pareto"]["hv_regret"])


@pytest.mark.parametrize("args, message", [
    (["policy=mobo"], "mobo needs a trade-off: declare problem.objectives"),
    (["problem=synthetic_moo", "problem.preference={code: -1}"], "problem.preference weight of code must be >= 0"),
    (["problem=synthetic_moo", "problem.objectives=[{name: code, maximize: 'task:0'}]"],
     "problem.objectives needs 2 to 4 objectives, got 1"),
    (["problem=synthetic_moo", "problem.objectives=[{name: code, maximize: 'task:0'}, {name: web, metric: 'task:7'}]"],
     "problem.objectives[1] (web): objective uses unknown metric(s) ['task:7']"),
])
def test_bad_trade_off_settings_are_one_line(tmp_path, args, message):
    assert_run_refused(tmp_path, args, message)
