"""Trust region (extrapolated mixtures flagged, optimum inside) and accuracy gates (weak tables warned)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bomix.backends.replay import ReplayBackend
from bomix.backends.replay.build import build
from bomix.backends.replay.trust import radii
from bomix.proposals import nn_distances
from bomix.campaign import run_campaign
from bomix.policies.heuristics import FixedPolicy
from bomix.runtable import validate
from bomix.space import Fidelity


def test_radius_is_a_quantile_of_nearest_neighbour_distances():
    C = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 1.0]])
    assert nn_distances(C) == pytest.approx([0.1, 0.1, 1.0])
    r = radii({Fidelity("s", 1): C, Fidelity("s", 2): C[:1]}, q=0.5)
    assert r[Fidelity("s", 1)] == pytest.approx(0.1)
    assert r[Fidelity("s", 2)] == pytest.approx(0.1)  # one run: borrows its scale's radius


def test_extrapolated_mixture_is_flagged_and_stored(model_dir, table, tmp_path):
    sim = ReplayBackend(model_dir)
    t = sim.space.target
    logged = table[(table["scale"] == t.scale) & (table["step"] == t.steps)]
    w_logged = logged[[f"w:{d}" for d in sim.space.domains]].to_numpy(float)[0]
    assert sim.extrapolated(sim.space.mixture(w_logged), t) is False
    vertex = sim.space.mixture([1.0, 0.0, 0.0, 0.0])
    assert sim.trust.distance(vertex.weights[None], t)[0] > sim.trust.radius_at(t)
    assert sim.extrapolated(vertex, t) is True
    s = run_campaign(sim, FixedPolicy([1.0, 0.0, 0.0, 0.0], evaluate=True), budget=1.0, seed=0, directory=tmp_path)
    assert s["extrapolated"] is True
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    flags = [r[0] for r in conn.execute("SELECT extrapolated FROM recommendations")]
    conn.close()
    assert flags and all(f == 1 for f in flags)
    from bomix.bench.aggregate import summarize

    fin = summarize([tmp_path], [0.01])["final"][0]
    assert fin["extrapolated_final"] == 1.0 and fin["extrapolated_all"] == 1.0


def test_optimum_is_searched_inside_the_trust_region(model_dir):
    sim = ReplayBackend(model_dir)
    t = sim.space.target
    m, v = sim._search(sim.default_objective, t)  # fresh search (not the cached value)
    assert sim.trust.distance(m.weights[None], t)[0] <= sim.trust.radius_at(t) + 1e-9
    opt = sim.meta["trust"]["optimum"]
    assert opt["value"] >= opt["unconstrained_value"] - 1e-9 and opt["radius"] == sim.trust.radius_at(t)
    assert "Trust region" in Path(model_dir, "report.md").read_text()


def _weak_table(n_target: int, seed: int = 0) -> pd.DataFrame:
    """Cheap runs where the loss follows the mixture; target runs whose loss is noise (no mixture signal)."""
    rng = np.random.default_rng(seed)
    rows = []
    for scale, params, n in (("s", 1e6, 30), ("l", 1e9, n_target)):
        for i, w in enumerate(rng.dirichlet(np.ones(3), n)):
            y = 3.0 + (w[0] - 0.3) ** 2 if scale == "s" else 2.0 + 0.3 * rng.standard_normal()
            rows.append({"run_id": f"{scale}{i}", "scale": scale, "params": params, "step": 1000,
                         "w:a": w[0], "w:b": w[1], "w:c": w[2], "m:loss": y})
    return pd.DataFrame(rows)


def test_a_weak_target_is_warned_about(tmp_path, capsys):
    out = build(validate(_weak_table(20)), tmp_path / "weak", holdout=0.3, seed=1)
    err = capsys.readouterr().err
    assert "WARNING: simulator replay-model:" in err
    assert "ranks mixtures poorly at the target l@1000" in err or "R^2" in err
    rep = json.loads((out / "report.json").read_text())
    target = [v for v in rep["verdicts"] if v["target"]][0]
    assert target["verdict"] == "weak" and target["held_out"] == 6
    md = (out / "report.md").read_text()
    assert md.index("## Verdict") < md.index("## loss")  # the report opens with the verdicts
    assert json.loads((out / "simulator.json").read_text())["warnings"] == rep["warnings"]


def test_an_unchecked_target_is_said_plainly(tmp_path, capsys):
    out = build(validate(_weak_table(4)), tmp_path / "few", holdout=0.3)
    err = capsys.readouterr().err
    assert "the target l@1000 could not be checked (only 4 runs at scale l" in err
    assert "not checked: only 4 runs at scale l" in (out / "report.md").read_text()


def test_negative_r2_gates_by_fidelity_and_pooled():
    """R^2 < 0 at any fidelity, or pooled, is warned about even when the target ranks well."""
    from bomix.backends.replay.report import gate_warnings
    from bomix.space import Fidelity, Scale, Space

    sp = Space(("a", "b"), [Scale("s", 1e6), Scale("l", 1e9)], min_steps=100, max_steps=1000,
               target=Fidelity("l", 1000))
    good = {"scale": "l", "step": 1000, "r2": 0.9}
    rep = {"verdicts": [{"target": True, "verdict": "ok", "spearman": 0.95, "held_out": 6}],
           "objective": {"by_fidelity": [good], "pooled_r2": 0.8}}
    assert gate_warnings(sp, rep) == []
    rep["objective"] = {"by_fidelity": [good, {"scale": "s", "step": 100, "r2": -0.4}], "pooled_r2": -53.0}
    w = gate_warnings(sp, rep)
    assert len(w) == 2 and "R^2 -0.40 < 0 at s@100" in w[0] and "pooled held-out R^2 of the objective is -53.00" in w[1]
