"""Reference values from runs of a reference mixture (``bomix reference``): what normalised objectives and relative
constraints are declared against."""

import json

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.cli import main as bomix_main
from bomix.errors import BomixError
from bomix.policies.heuristics import FixedPolicy
from bomix.reference import reference_values
from bomix.space import Fidelity


def _campaign(d, mixture, seed):
    b = SyntheticBackend(k=3, seed=0, tasks=2, noise=0.02)
    run_campaign(b, FixedPolicy(mixture=mixture), budget=1.0, seed=seed, directory=d)
    return b


def test_mean_final_metrics_of_the_reference_runs(tmp_path, capsys):
    dirs = [tmp_path / f"s{i}" for i in range(3)]
    b = None
    for i, d in enumerate(dirs):
        b = _campaign(d, [1 / 3, 1 / 3, 1 / 3], seed=i)
    ref = reference_values(dirs)
    assert set(ref) == set(b.metrics)
    t = b.space.target
    truth = b.metrics_at(b.space.center().weights[None], t.scale, t.steps)
    for m in ("loss:d0", "task:0", "task:1"):
        assert ref[m] == pytest.approx(truth[m][0], rel=0.05)  # noisy runs around the truth
    assert reference_values(dirs, ["task:0"], Fidelity(t.scale, t.steps)) == {"task:0": ref["task:0"]}
    assert bomix_main(["reference", *map(str, dirs), "--metrics", "task:0,loss:d1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"task:0": ref["task:0"], "loss:d1": ref["loss:d1"]}
    assert bomix_main(["reference", *map(str, dirs), "--metrics", "task:0"]) == 0
    assert capsys.readouterr().out == f'reference:\n  "task:0": {ref["task:0"]:.6g}\n'


def test_reference_errors_are_one_line(tmp_path, capsys):
    _campaign(tmp_path / "a", [1 / 3, 1 / 3, 1 / 3], 0)
    _campaign(tmp_path / "b", [0.5, 0.5, 0.0], 0)
    with pytest.raises(BomixError, match="train 2 different mixtures"):
        reference_values([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(BomixError, match="no finished run at 20M@500"):
        reference_values([tmp_path / "a"], fidelity=Fidelity("20M", 500))
    with pytest.raises(BomixError, match=r"metric\(s\) \['nope'\] are missing"):
        reference_values([tmp_path / "a"], ["nope"])
    assert bomix_main(["reference", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bomix: error:") and len(err.strip().splitlines()) == 1
    assert np.isfinite(reference_values([tmp_path / "b"])["loss:d0"])
