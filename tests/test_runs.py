import numpy as np
import pytest

from bomix.errors import BomixError
from bomix.runs import Curve, MixtureSchedule, RunResult, RunSpec
from bomix.space import Fidelity, Mixture


def test_spec_json_roundtrip_with_schedule():
    sched = MixtureSchedule((0, 100), (Mixture([0.5, 0.5]), Mixture([0.9, 0.1])))
    spec = RunSpec(Mixture([0.5, 0.5]), "s", 200, seed=3, schedule=sched, run_id="r00001", tag="x")
    back = RunSpec.from_dict(spec.to_dict(), ["a", "b"])
    assert back.to_dict() == spec.to_dict()
    assert back.schedule.at(150) == Mixture([0.9, 0.1])
    np.testing.assert_allclose(sched.average(200).weights, [0.7, 0.3])


def test_schedule_validation():
    with pytest.raises(BomixError):
        MixtureSchedule((5,), (Mixture([1.0, 0.0]),))
    with pytest.raises(BomixError):
        MixtureSchedule((0, 0), (Mixture([1.0, 0.0]), Mixture([0.0, 1.0])))


def test_curve_concat_truncate():
    a = Curve([1, 2], {"x": [3.0, 2.0]})
    b = Curve([1, 2, 3, 4], {"x": [9, 9, 1.5, 1.0], "y": [0, 0, 0, 1]})
    c = a.concat(b)
    assert c.steps.tolist() == [1, 2, 3, 4]
    assert c.metrics["x"].tolist() == [3.0, 2.0, 1.5, 1.0]
    assert np.isnan(c.metrics["y"][0]) and c.metrics["y"][3] == 1
    assert c.truncate(2).final() == {"x": 2.0, "y": pytest.approx(np.nan, nan_ok=True)}


def test_result_status_checked():
    with pytest.raises(ValueError):
        RunResult(RunSpec(Mixture([1.0, 0.0]), "s", 1), status="weird")


def test_validate_run_id_accepts_campaign_ids_and_refuses_paths():
    from bomix.runs import run_id_for, validate_run_id

    assert validate_run_id(run_id_for(42)) == "r00042"
    for bad in ("../../etc/x", "/etc/passwd", "r00001/../x", "r0001", "r00001\n", "", None, 7, "R00001"):
        with pytest.raises(BomixError, match="not a bomix run id"):
            validate_run_id(bad)


def test_spec_fidelity_and_start_step():
    m = Mixture([0.5, 0.5], ("a", "b"))
    assert RunSpec(m, "1M", 100).fidelity == Fidelity("1M", 100) and str(RunSpec(m, "1M", 100).fidelity) == "1M@100"
    assert RunSpec(m, "1M", 100).start_step == 0
    assert RunSpec(m, "1M", 100, resume_step=40).start_step == 0  # no run to continue: from scratch
    assert RunSpec(m, "1M", 100, resume_from="r0001", resume_step=40).start_step == 40
