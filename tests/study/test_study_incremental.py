"""A Study reads its store incrementally (only the runs added or finished since its last read), and what it
sees is exactly what a full read of the store gives, whatever other workers did in between."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.runs import RunSpec
from bomix.store import StoreReader
from bomix.study import Study

DOMAINS = ["code", "web", "books"]


def make(d, budget=40.0, policy="random") -> Study:
    return Study.create(d, domains=DOMAINS, ladder={"s": 1e6, "m": 4e6, "l": 1e7}, steps=[100, 400],
                        objective="loss", policy=policy, budget=budget, exist_ok=True)


def _loss(trial) -> float:
    w = np.array([trial.mixture[d] for d in DOMAINS])
    return float(2.0 + ((w - [0.5, 0.3, 0.2]) ** 2).sum())


def _snapshot(history) -> tuple:
    """Everything a policy can read from a History, as plain comparable values (bit-exact floats)."""
    results = [(r.spec.to_json(), r.status, r.curve.steps.tolist(),
                {k: v.tobytes() for k, v in r.curve.metrics.items()}, r.cost, r.wall_time, r.error, r.info)
               for r in history.results]
    return results, [s.to_json() for s in history.pending], history.spent.hex(), history.budget


def _full_read(d, study: Study) -> tuple:
    with StoreReader(d) as rd:
        results, pending, spent = rd.load(DOMAINS, objective=study.problem.objective)
    from bomix.history import History

    return _snapshot(History(study.space, study.problem.objective, results, pending, study.budget, spent))


def test_interleaved_workers_see_exactly_a_full_read(tmp_path):
    d = tmp_path / "s"
    workers = [make(d), make(d), make(d)]
    rng = np.random.default_rng(1)
    asked: list[tuple[int, object]] = []
    for step in range(60):
        w = int(rng.integers(len(workers)))
        study = workers[w]
        if asked and (rng.random() < 0.5 or len(asked) > 6):
            _, trial = asked.pop(int(rng.integers(len(asked))))
            kind = rng.random()
            if kind < 0.1:
                study.tell(trial.run_id, status="failed", error="node lost")
            elif kind < 0.2:
                study.tell(trial.run_id, value=float("nan"))  # diverged
            elif kind < 0.5:
                study.tell(trial.run_id, curve=[(50, 3.0), (trial.steps, _loss(trial))])
            else:
                study.tell(trial.run_id, value=_loss(trial))
        else:
            trial = study.ask(wait=False)
            if trial is not None:
                asked.append((w, trial))
        for other in workers:  # each worker's incremental view == a full read, after every operation
            assert _snapshot(other.history()) == _full_read(d, other), step
        assert _snapshot(Study.load(d).history()) == _full_read(d, study)  # a fresh worker: a full read
    assert len(_full_read(d, workers[0])[0]) > 10
    for s in workers:
        s.close()


def test_each_ask_and_tell_reads_only_what_changed(tmp_path, monkeypatch):
    """After 30 runs an ask + tell parses a bounded number of stored specs, not all of them."""
    study = make(tmp_path / "s")
    for _ in range(30):
        trial = study.ask()
        study.tell(trial.run_id, value=_loss(trial))
    other = make(tmp_path / "s")  # another worker adds and finishes runs meanwhile
    t = other.ask()
    other.tell(t.run_id, value=_loss(t))
    other.ask()
    calls = []
    real = RunSpec.from_dict.__func__

    def counting(cls, d, domains=None):
        calls.append(d.get("run_id"))
        return real(cls, d, domains)

    monkeypatch.setattr(RunSpec, "from_dict", classmethod(counting))
    trial = study.ask()
    study.tell(trial.run_id, value=_loss(trial))
    h = study.history()
    assert len(h.results) == 32 and len(h.pending) == 1
    # the other worker's two runs once each, this ask's run once (when tell refreshes), nothing else
    assert sorted(calls) == ["r00030", "r00031", "r00032"], calls
    assert _snapshot(h) == _full_read(tmp_path / "s", study)
    study.close()
    other.close()


def test_a_run_told_by_another_worker_moves_from_pending_to_finished(tmp_path):
    a, b = make(tmp_path / "s"), make(tmp_path / "s")
    ta = a.ask()
    tb = b.ask()
    assert [s.run_id for s in a.history().pending] == [ta.run_id, tb.run_id]
    b.tell(tb.run_id, value=2.0)
    a.tell(ta.run_id, value=2.5)
    h = a.history()
    assert [r.spec.run_id for r in h.results] == [tb.run_id, ta.run_id] and not h.pending  # finishing order
    assert h.spent == pytest.approx(2.0)
    a.close()
    b.close()
