"""The ledger: the one way a run is admitted (checked, priced, stored pending with the seed rule) and
recorded (checked, stored, retried), and the only writer of a History."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Ledger, build_problem
from bomix.campaign.checks import Host
from bomix.campaign.ledger import SEED_STRIDE
from bomix.cost import BUDGET_EPS
from bomix.errors import BomixError
from bomix.executors.base import INFRA
from bomix.history import History
from bomix.runs import Curve, RunResult, RunSpec
from bomix.store import Store

BOMIX = Path(__file__).resolve().parents[2] / "bomix"


@pytest.fixture
def books(tmp_path):
    backend = SyntheticBackend(k=3, noise=0.0)
    problem = build_problem(backend)
    store = Store(tmp_path)
    ledger = Ledger(store, problem, Host.of_backend(backend), seed=7, max_retries=1)
    history = History(problem.space, problem.objective, budget=1.0)
    yield backend, ledger, history
    store.close()


def _spec(backend, steps=None, **kw) -> RunSpec:
    t = backend.space.target
    return RunSpec(backend.space.center(), t.scale, steps or t.steps, **kw)


def test_admit_prices_checks_stores_and_charges(books):
    backend, ledger, history = books
    half = _spec(backend, steps=backend.space.target.steps // 2)
    accepted = ledger.admit(history, [half, half, half], left=1.0)
    assert [c for _, c in accepted] == [pytest.approx(0.5)] * 2  # the third no longer fits
    stored = ledger.add_pending(history, accepted)
    assert [s.run_id for s in stored] == ["r00000", "r00001"]
    assert [s.seed for s in stored] == [7 * SEED_STRIDE, 7 * SEED_STRIDE + 1]  # the seed rule
    assert history.pending == stored and history.spent == pytest.approx(1.0)
    with pytest.raises(BomixError):
        ledger.admit(history, [half.with_(steps=10**9)], left=1.0)  # off the ladder


def test_record_checks_the_result_and_updates_history(books):
    backend, ledger, history = books
    (spec,) = ledger.add_pending(history, ledger.admit(history, [_spec(backend)], 1.0))
    nan = RunResult(spec.with_(), "ok", Curve(np.array([10]), {m: np.array([np.nan]) for m in backend.metrics}),
                    -1.0, 0.0)
    res, new = ledger.record(history, nan)
    assert new is None and res.spec is spec and res.status == "diverged" and "non-finite" in res.error
    assert res.cost == pytest.approx(1.0)  # a negative cost is replaced by the charge
    assert history.pending == [] and history.results == [res]
    assert ledger.record(history, backend.run(spec)) == (None, None)  # no such pending run: dropped


def test_infrastructure_failures_are_retried_once_and_charged(books):
    backend, ledger, history = books
    history.budget = 3.0
    (spec,) = ledger.add_pending(history, ledger.admit(history, [_spec(backend)], 3.0))
    died = RunResult(spec, "failed", Curve(np.zeros(0), {}), 0.0, 0.0, "worker died", {"failure": INFRA})
    _, new = ledger.record(history, died, retry=True)
    assert new.meta == {"retry_of": spec.run_id, "attempt": 1} and ledger.n_retries == 1
    assert history.pending == [new] and history.spent == pytest.approx(2.0)
    again = RunResult(new, "failed", Curve(np.zeros(0), {}), 0.0, 0.0, "worker died", {"failure": INFRA})
    assert ledger.record(history, again, retry=True)[1] is None  # max_retries=1


def test_a_continuation_takes_its_parents_seed(books):
    backend, ledger, history = books
    t = backend.space.target
    (parent,) = ledger.add_pending(history, ledger.admit(history, [_spec(backend, steps=t.steps // 4)], 1.0))
    ledger.record(history, backend.run(parent))
    child = _spec(backend, resume_from=parent.run_id)
    ((spec, cost),) = ledger.admit(history, [child], 1.0)
    assert spec.seed == parent.seed and spec.resume_step == parent.steps and cost == pytest.approx(0.75)


def test_only_the_ledger_changes_a_history_and_each_constant_is_written_once():
    writes = re.compile(r"\.(pending|results)\.append\(|\.spent \+=|history\.(pending|results|spent) =")
    seeds = re.compile(r"1_000_003")
    eps = re.compile(r"BUDGET_EPS = ")
    found = {"writes": [], "seeds": [], "eps": []}
    for path in BOMIX.rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(BOMIX).as_posix()
        if writes.search(text) and rel != "history.py":
            found["writes"].append(rel)
        if seeds.search(text):
            found["seeds"].append(rel)
        if eps.search(text):
            found["eps"].append(rel)
    assert found == {"writes": [], "seeds": ["campaign/ledger.py"], "eps": ["cost.py"]}
    assert BUDGET_EPS == 1e-9
