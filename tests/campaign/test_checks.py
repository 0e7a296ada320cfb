"""Every backend result passes one check: None, exceptions (SystemExit too), non-finite objectives."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import Campaign, run_campaign
from bomix.executors.base import infra_failure
from bomix.executors.inline import InlineExecutor
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import Curve
from bomix.store import StoreReader


class Faulty(SyntheticBackend):
    """Misbehaves on the runs listed in ``faults`` (run id -> kind)."""

    def __init__(self, faults, **kw):
        super().__init__(**kw)
        self.faults = faults

    def run(self, spec):
        kind = self.faults.get(spec.run_id)
        if kind == "none":
            return None
        if kind == "exit":
            raise SystemExit(3)
        if kind == "ctrl-c":
            raise KeyboardInterrupt
        res = super().run(spec)
        if kind in ("nan", "inf"):
            vals = {m: np.where(np.arange(len(v)) == len(v) - 1, float(kind), v) for m, v in res.curve.metrics.items()}
            res.curve = Curve(res.curve.steps, vals)
        if kind == "empty":
            res.curve = Curve(np.zeros(0), {})
        if kind == "nan_cost":
            res.cost = float("nan")
        return res


def test_bad_results_are_recorded_and_the_campaign_continues(tmp_path):
    faults = {"r00000": "none", "r00001": "exit", "r00002": "nan", "r00003": "inf", "r00004": "empty",
              "r00005": "nan_cost"}
    s = run_campaign(Faulty(faults, k=3), RandomPolicy(), budget=7, directory=tmp_path)
    assert s["n_runs"] == 7 and s["stop_reason"] == "budget"
    with StoreReader(tmp_path) as st:
        runs = st.to_pandas()["runs"].set_index("run_id")
    st_ = runs["status"].to_dict()
    assert st_ == {"r00000": "failed", "r00001": "failed", "r00002": "diverged", "r00003": "diverged",
                   "r00004": "failed", "r00005": "ok", "r00006": "ok"}
    assert "returned NoneType, not a RunResult" in runs.loc["r00000", "error"]
    assert runs.loc["r00001", "error"].startswith("SystemExit: 3")
    assert "non-finite objective nan" in runs.loc["r00002", "error"]
    assert "non-finite objective inf" in runs.loc["r00003", "error"]
    assert "empty curve" in runs.loc["r00004", "error"]
    assert np.isfinite(runs.loc["r00005", "cost"]) and runs.loc["r00005", "cost"] == pytest.approx(1.0)
    assert s["n_failed"] == 5 and s["n_retries"] == 0  # a run's own failure is never retried


def test_keyboard_interrupt_still_stops_the_campaign(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_campaign(Faulty({"r00001": "ctrl-c"}, k=3), RandomPolicy(), budget=3, directory=tmp_path)
    with StoreReader(tmp_path) as st:
        runs = st.to_pandas()["runs"]
    assert runs["status"].tolist() == ["ok", "pending"]  # resumable: r00001 re-runs next time


class LosingExecutor(InlineExecutor):
    """Inline, but the infrastructure 'loses' every attempt of the runs whose (root) id is in ``lose``."""

    def __init__(self, lose, max_retries, always=False):
        super().__init__()
        self.lose, self.max_retries, self.always = set(lose), max_retries, always

    def wait(self):
        spec = self._queue[0]
        root = (spec.meta or {}).get("retry_of", spec.run_id)
        if root in self.lose and (self.always or "attempt" not in (spec.meta or {})):
            self._queue.popleft()
            return [infra_failure(spec, "node lost")]
        return super().wait()


@pytest.mark.parametrize("max_retries, always, budget, n_retries, n_ok", [
    (0, False, 4, 0, 3),   # no retries configured: the lost run stays failed
    (1, False, 4, 1, 3),   # retried once, ok; the retry is charged, so one run fewer fits
    (2, True, 5, 2, 2),    # lost every time: retried max_retries times, then given up
    (3, True, 2, 1, 0),    # the budget has room for only one retry (lost too)
])
def test_infrastructure_retries_are_capped_and_charged(tmp_path, max_retries, always, budget, n_retries, n_ok):
    ex = LosingExecutor({"r00000"}, max_retries, always)
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=budget, directory=tmp_path, executor=ex)
    with StoreReader(tmp_path) as st:
        runs = st.to_pandas()["runs"]
    assert s["n_retries"] == n_retries and s["n_ok"] == n_ok
    assert runs["charged"].sum() == pytest.approx(budget) == s["budget_used"]
    retries = runs[runs["spec"].str.contains('"retry_of": "r00000"')]
    assert len(retries) == n_retries
    assert (retries["seed"] == runs["seed"].iloc[0]).all()  # a retry re-runs the same spec and seed


def test_a_retry_survives_a_kill_between_failure_and_resubmission(tmp_path):
    """The failure and its retry are written in one transaction: a resume finds the retry pending."""
    ex = LosingExecutor({"r00000"}, 1)
    camp = Campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path, executor=ex)
    camp.executor.submit = lambda spec: (_ for _ in ()).throw(KeyboardInterrupt) if (spec.meta or {}).get(
        "retry_of") else InlineExecutor.submit(camp.executor, spec)
    with pytest.raises(KeyboardInterrupt):
        camp.run()
    camp.close()
    with StoreReader(tmp_path) as st:
        runs = st.to_pandas()["runs"]
    assert runs["status"].tolist() == ["failed", "pending"]
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=2, directory=tmp_path, executor=InlineExecutor())
    assert s["n_retries"] == 1 and s["n_runs"] == 2 and s["budget_used"] == pytest.approx(2.0)
    with StoreReader(tmp_path) as st:
        assert st.to_pandas()["runs"]["status"].tolist() == ["failed", "ok"]
