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
