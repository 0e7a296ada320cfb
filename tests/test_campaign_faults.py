"""Every backend result passes one check: None, exceptions (SystemExit too), non-finite objectives."""

from __future__ import annotations

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
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
