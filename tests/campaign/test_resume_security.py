"""Resuming a crafted store: every stored spec is validated like a new one, nothing is executed."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy


class SpyBackend(SyntheticBackend):
    """Counts runs; runs a ``meta.callback`` the way a naive trainer would (the attack's target)."""

    calls = 0

    def run(self, spec):
        type(self).calls += 1
        cb = (spec.meta or {}).get("callback")
        if cb:
            import importlib

            mod, fn = cb.split(":")
            getattr(importlib.import_module(mod), fn)(*spec.meta.get("callback_args", []))
        return super().run(spec)


def _campaign(d):
    return run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=5, seed=0, directory=d, max_runs=2)


def _plant(d, rid, **changes):
    """Insert a pending run copied from r00000 with ``changes`` applied (as an attacker editing the file)."""
    c = sqlite3.connect(d / "store.sqlite", isolation_level=None)
    spec = json.loads(c.execute("SELECT spec FROM runs WHERE run_id = 'r00000'").fetchone()[0])
    spec.update(run_id=rid, **changes)
    c.execute("INSERT INTO runs(run_id, idx, spec, scale, steps, status, charged, dispatched_at)"
              " VALUES (?, 99, ?, ?, ?, 'pending', 0.1, 0)", (rid, json.dumps(spec), spec["scale"], spec["steps"]))
    c.close()
    return spec


ATTACKS = {
    "path_run_id": ("../../etc/x", {}, "not a bomix run id"),
    "absolute_resume_from": ("r00099", {"resume_from": "/etc/passwd", "resume_step": 10}, "not a bomix run id"),
    "dotdot_resume_from": ("r00099", {"resume_from": "../../r00000"}, "not a bomix run id"),
    "callback": ("r00099", {"meta": {"callback": "os:system", "callback_args": ["touch PWNED"]}},
                 r"keys \['callback', 'callback_args'\] outside the allowlist"),
    "off_ladder": ("r00099", {"scale": "7B"}, "cannot be resumed"),
    "resume_pending": ("r00099", {"resume_from": "r00098", "steps": 20000}, "not a finished shorter run"),
    "not_simplex": ("r00099", {"mixture": [0.9, 0.9, 0.9]}, "spec is invalid"),
    "controller_kind": ("r00099", {"controller": {"kind": "os:system"}}, "controller 'os:system' is not one of"),
    "controller_reference": ("r00099", {"controller": {"kind": "odm", "reference": {
        "source": "model", "run_id": "../../etc/x"}}}, "reference run_id.*not a bomix run id"),
    "controller_reference_unfinished": ("r00099", {"controller": {"kind": "odm", "reference": {
        "source": "model", "run_id": "r00098"}}}, "not a finished ok run"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_crafted_pending_spec_is_refused_and_nothing_runs(tmp_path, monkeypatch, attack):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "camp"
    _campaign(d)
    rid, changes, match = ATTACKS[attack]
    _plant(d, rid, **changes)
    SpyBackend.calls = 0
    with pytest.raises(BomixError, match=match) as e:
        run_campaign(SpyBackend(k=3), RandomPolicy(), budget=5, seed=0, directory=d, max_runs=4)
    assert "\n" not in str(e.value)
    assert SpyBackend.calls == 0 and not (tmp_path / "PWNED").exists()


def test_an_honest_store_still_resumes(tmp_path):
    d = tmp_path / "camp"
    _campaign(d)
    s = run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=5, seed=0, directory=d, max_runs=4)
    assert s["n_runs"] == 4
