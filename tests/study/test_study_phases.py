"""A Study over two phases: trials carry their schedule, the user trains it, the recommendation is a schedule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.study import Study

DOMAINS = ["code", "web", "books"]
LADDER = {"s": 1e6, "l": 1e7}
BEST = {"pre": np.array([0.6, 0.3, 0.1]), "ann": np.array([0.1, 0.1, 0.8])}
PHASES = [{"name": "pre", "fraction": [0.7, 0.9]}, {"name": "ann", "fraction": [0.1, 0.3]}]


def loss(trial) -> float:
    """A user's training script: reads each phase's mixture and start step."""
    ph = {p["phase"]: p for p in trial.schedule}
    assert ph["pre"]["start_step"] == 0 and ph["ann"]["start_step"] == round(ph["pre"]["fraction"] * trial.steps)
    err = sum(((np.array([ph[p]["mixture"][d] for d in DOMAINS]) - BEST[p]) ** 2).sum() for p in BEST)
    return float(2.0 + 1e6 / trial.params + 100 / trial.steps + err + (ph["ann"]["fraction"] - 0.25) ** 2)


def test_study_over_phases_asks_schedules_and_recommends_one(tmp_path):
    pol = {"name": "mfbo", "n_init": 6, "gp": {"maxiter": 20}, "search": {"raw_samples": 64, "starts": 2, "iters": 5}}
    with Study.create(tmp_path / "s", domains=DOMAINS, ladder=LADDER, steps=[100, 400], objective="loss",
                      policy=pol, budget=3.0, phases=PHASES) as study:
        n = 0
        while (trial := study.ask()) is not None and n < 12:
            assert set(trial.mixture) == {f"{p}/{d}" for p in ("pre", "ann") for d in DOMAINS}
            assert sum(p["fraction"] for p in trial.schedule) == pytest.approx(1.0)
            study.tell(trial.run_id, value=loss(trial))
            n += 1
        assert n == 12
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    sched = {p["phase"]: p for p in s["schedule"]}
    assert set(sched) == {"pre", "ann"} and 0.1 - 1e-9 <= sched["ann"]["fraction"] <= 0.3 + 1e-9
    # reopening the study reads the same phased space back from its store
    with Study.load(tmp_path / "s") as again:
        assert again.space.phases.names == ("pre", "ann") and len(again.history().results) == 12


def test_study_refuses_bad_phases_and_policies_that_cannot_search_them(tmp_path):
    with pytest.raises(BomixError, match="problem.phases needs >= 2 phases"):
        Study.create(tmp_path / "a", domains=DOMAINS, ladder=LADDER, steps=[100], objective="loss", budget=1.0,
                     phases=[{"name": "only", "fraction": 0.5}])
    with pytest.raises(BomixError, match="policy dml cannot search a multi-phase space"):
        Study.create(tmp_path / "b", domains=DOMAINS, ladder=LADDER, steps=[100], objective="loss", budget=1.0,
                     policy="dml", phases=PHASES)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_study_with_a_pinned_trunk_asks_branches(tmp_path):
    """continuation=True on a phased study: a trial sharing a finished run's schedule up to a phase boundary is a
    branch (resume_from that run, resume_step the boundary) and is charged only its remaining steps; the user
    tells the curve after resume_step and the study stores the whole one."""
    phases = [{"name": "pre", "fraction": 0.75, "mixture": {"code": 0.5, "web": 0.3, "books": 0.2}},
              {"name": "ann", "fraction": 0.25}]
    with Study.create(tmp_path / "s", domains=DOMAINS, ladder=LADDER, steps=[400], objective="loss",
                      policy={"name": "random", "scale": "s", "steps": 400}, budget=0.5, phases=phases,
                      continuation=True, target=["l", 400]) as study:
        full = study.problem.cost("s", 400)
        trials = []
        while (trial := study.ask()) is not None:
            start = trial.resume_step if trial.resume_from else 0
            assert trial.schedule[0]["mixture"] == pytest.approx({"code": 0.5, "web": 0.3, "books": 0.2})
            y = loss(trial)
            study.tell(trial.run_id, curve=[(s, y + 1.0 / s) for s in range(start + 100, 401, 100)])
            trials.append(trial)
        first, branches = trials[0], trials[1:]
        assert first.resume_from is None and first.cost == pytest.approx(full)
        assert len(branches) >= 10 and all(t.resume_from == first.run_id and t.resume_step == 300 for t in branches)
        assert all(t.cost == pytest.approx(0.25 * full) for t in branches)
        h = study.history()
        run = {r.spec.run_id: r for r in h.results}[branches[0].run_id]
        assert list(run.curve.steps) == [100, 200, 300, 400]  # the parent's points up to 300, then its own
    with Study.create(tmp_path / "t", domains=DOMAINS, ladder=LADDER, steps=[400], objective="loss",
                      policy={"name": "random", "scale": "s", "steps": 400}, budget=0.3, phases=phases,
                      target=["l", 400]) as plain:
        while (trial := plain.ask()) is not None:  # without continuation=True no trial is a branch
            assert trial.resume_from is None
            plain.tell(trial.run_id, value=loss(trial))
