"""A store is trusted data only after it is checked.

A hand-edited or damaged store gives one line (exit 2 from the CLI) naming the table, column and row and
the fix, never a traceback, never a write, never silently accepted data; an I/O error of a healthy store
(full disk, read-only file system) is reported as one, never as a damaged store; a resumed run trains on
the stored mixture bit for bit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.campaign import run_campaign
from bomix.cli import main
from bomix.errors import BomixError
from bomix.policies.heuristics import RandomPolicy
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Mixture
from bomix.store import Store, StoreReader
from bomix.store.schema import StoreDamagedError, StoreIOError
from bomix.study import Study


# ----- helpers ------------------------------------------------------------------------------------
def _campaign(d: Path, budget: float = 3, **kw) -> dict:
    return run_campaign(SyntheticBackend(k=3), RandomPolicy(), budget=budget, seed=0, directory=d, **kw)


@pytest.fixture(scope="module")
def finished_campaign(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("camp") / "c"
    _campaign(d)
    return d


@pytest.fixture
def camp(finished_campaign, tmp_path) -> Path:
    d = tmp_path / "c"
    shutil.copytree(finished_campaign, d)
    return d


def _sql(d: Path, statement: str, *params) -> None:
    """Edit the store by hand, as a user with the sqlite3 shell would."""
    c = sqlite3.connect(d / "store.sqlite", isolation_level=None)
    c.execute(statement, params)
    c.close()


def _files(d: Path) -> dict[str, bytes]:
    """The store's bytes (and a -wal with content, if any)."""
    out = {"store.sqlite": (d / "store.sqlite").read_bytes()}
    wal = d / "store.sqlite-wal"
    if wal.exists() and wal.stat().st_size:
        out["wal"] = wal.read_bytes()
    return out


def _cli_error(args: list[str], capsys) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one line on stderr (returned)."""
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("bomix: error:"), (args, code, err)
    return err[0]


def _study(d: Path, budget: float = 5.0) -> Study:
    return Study.create(d, domains=["a", "b", "c"], ladder={"s": 1e6, "l": 1e7}, steps=[100, 400],
                        objective="loss", policy="random", budget=budget, exist_ok=True)


# ----- 1. hand-edited values: one line naming table/column/row, nothing written -------------------
EDITS = {
    # name: (SQL, what the line says, commands that read it: show / bench / export / resume)
    "rec_mixture_not_json": ("UPDATE recommendations SET mixture = 'not json'",
                             "table recommendations, column mixture, row", "show bench resume"),
    "rec_mixture_wrong_length": ("UPDATE recommendations SET mixture = '[0.5, 0.5]'",
                                 "table recommendations, column mixture", "show bench resume"),
    "rec_n_finished_text": ("UPDATE recommendations SET n_finished = 'many'",
                            "table recommendations, column n_finished", "show bench resume"),
    "meta_objective_empty": ("UPDATE meta SET value = '{}' WHERE key = 'objective'",
                             "table meta, column value, key 'objective'", "show bench export resume"),
    "meta_config_not_json": ("UPDATE meta SET value = '{' WHERE key = 'config'",
                             "key 'config': is not valid JSON", "show bench export resume"),
    "meta_domains_string": ("UPDATE meta SET value = '\"d0\"' WHERE key = 'domains'",
                            "key 'domains'", "show bench export resume"),
    "meta_budget_text": ("UPDATE meta SET value = '\"lots\"' WHERE key = 'budget'",
                         "key 'budget'", "show bench export resume"),
    "meta_space_scales": ("UPDATE meta SET value = '{\"scales\": 3}' WHERE key = 'space'",
                          "key 'space'", "show bench export resume"),
    "meta_optimum_list": ("UPDATE meta SET value = '[]' WHERE key = 'optimum'",
                          "key 'optimum'", "show bench export resume"),
    "run_info_not_json": ("UPDATE runs SET info = '[1' WHERE run_id = 'r00001'",
                          "table runs, column info, run r00001", "show export resume"),
    "run_spec_not_json": ("UPDATE runs SET spec = 'nope' WHERE run_id = 'r00001'",
                          "table runs, column spec, run r00001", "show export resume"),
    "run_spec_extra_key": ("UPDATE runs SET spec = json_set(spec, '$.callback', 'os:system') WHERE run_id = 'r00001'",
                           "unknown key(s) ['callback']", "show export resume"),
    "run_steps_column": ("UPDATE runs SET steps = 7 WHERE run_id = 'r00001'",
                         "column scale/steps, run r00001", "show export resume"),
    "run_cost_text": ("UPDATE runs SET cost = 'free' WHERE run_id = 'r00001'",
                      "table runs, column cost, run r00001", "show export resume"),
    "run_finish_seq_null": ("UPDATE runs SET finish_seq = NULL WHERE run_id = 'r00001'",
                            "column finish_seq, run r00001", "show export resume"),
    "curve_value_text": ("UPDATE curves SET value = 'abc' WHERE run_id = 'r00001'",
                         "table curves, column value, run r00001", "show export resume"),
    "curve_orphan": ("INSERT INTO curves(run_id, step, metric, value) VALUES ('r00077', 1, 'm', 1.0)",
                     "run r00077: has curve rows but is not in table runs", "show export resume"),
    "seed_negative": ("UPDATE runs SET spec = json_set(spec, '$.seed', -7) WHERE run_id = 'r00001'",
                      "seed is -7, not an integer in [0,", "show export resume"),
    "ok_run_without_curve": ("DELETE FROM curves WHERE run_id = 'r00001'",
                             "table curves, column run_id, run r00001: has no rows, but the run's status is ok",
                             "show export resume"),
    "ok_run_nan_objective": ("UPDATE curves SET value = NULL WHERE run_id = 'r00001'",
                             "run r00001", "show export resume"),
    "curves_dropped": ("DROP TABLE curves", "table(s) ['curves'] are missing", "show export resume"),
    "recommendations_dropped": ("DROP TABLE recommendations", "table(s) ['recommendations'] are missing",
                                "show bench resume"),
    "column_dropped": ("ALTER TABLE runs DROP COLUMN info", "table runs lacks column(s) ['info']",
                       "show export resume"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_a_hand_edited_store_is_refused_in_one_line_and_left_unchanged(camp, tmp_path, capsys, name):
    sql, says, readers = EDITS[name]
    _sql(camp, sql)
    before = _files(camp)
    for reader in readers.split():
        if reader == "show":
            line = _cli_error(["show", str(camp)], capsys)
        elif reader == "bench":
            line = _cli_error(["bench", str(camp), "--out", str(tmp_path / "bench"), "--no-plots"], capsys)
        elif reader == "export":
            line = _cli_error(["export", str(camp), "--out", str(tmp_path / "runs.csv")], capsys)
        else:  # resume: refused before any run starts
            with pytest.raises(BomixError) as e:
                _campaign(camp)
            line = str(e.value)
            assert "\n" not in line
        assert says in line and "store.sqlite" in line, (reader, line)
        assert ("restore" in line or "set it" in line or "delete that row" in line), (reader, line)
        assert _files(camp) == before, f"{reader} wrote to the refused store"


def test_a_study_with_hand_edited_values_refuses_ask_tell_and_show(tmp_path, capsys):
    d = tmp_path / "s"
    with _study(d) as study:
        a, b = study.ask(), study.ask()
        study.tell(a.run_id, value=2.5)
    for sql, says in [("UPDATE meta SET value = '{' WHERE key = 'objective'", "key 'objective'"),
                      ("UPDATE meta SET value = '{\"domains\": 1}' WHERE key = 'study'", "key 'study'"),
                      ("UPDATE meta SET value = '-1' WHERE key = 'budget'", "key 'budget'"),
                      ("UPDATE runs SET spec = json_set(spec, '$.seed', -7) WHERE run_id = 'r00001'", "seed is -7"),
                      ("UPDATE runs SET spec = json_set(spec, '$.scale', '7B') WHERE run_id = 'r00001'",
                       "does not fit this problem")]:
        keep = d.parent / "keep"
        shutil.copytree(d, keep)
        try:
            _sql(d, sql)
            if "'$.scale'" in sql:
                _sql(d, "UPDATE runs SET scale = '7B' WHERE run_id = 'r00001'")
            before = _files(d)
            for args in (["ask", str(d)], ["tell", str(d), b.run_id, "--value", "2.0"], ["show", str(d)]):
                line = _cli_error(args, capsys)
                assert says in line, (sql, args, line)
                assert _files(d) == before, (sql, args)
        finally:
            shutil.rmtree(d)
            keep.rename(d)


def test_resume_checks_every_value_before_writing_anything(camp):
    """Even the budget (rewritten on every resume) is not written when a later check refuses the store."""
    _sql(camp, "UPDATE meta SET value = '[]' WHERE key = 'optimum'")
    before = _files(camp)
    with pytest.raises(BomixError, match="key 'optimum'.*delete that row"):
        _campaign(camp, budget=5)
    assert _files(camp) == before


# ----- 2. I/O errors are I/O errors --------------------------------------------------------------
def _limit_pages(monkeypatch, extra_pages: int) -> None:
    """Every store connection may grow its file by at most ``extra_pages`` pages (SQLITE_FULL beyond):
    a disk that fills up."""
    import bomix.store.schema as schema

    real = schema._connect

    def connect(path):
        conn = real(path)
        n = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {n + extra_pages}")
        return conn

    monkeypatch.setattr(schema, "_connect", connect)


def test_a_full_disk_is_reported_as_a_full_disk_and_the_store_is_intact(tmp_path, monkeypatch):
    with Store(tmp_path) as st:
        st.set_meta(domains=["a", "b"])
        st.add_pending([(RunSpec(Mixture([0.5, 0.5]), "s", 100, seed=0), 1.0)])
    _limit_pages(monkeypatch, 0)
    big = RunSpec(Mixture([0.5, 0.5]), "s", 100, seed=1, tag="x" * 20_000)
    with Store(tmp_path) as st:
        with pytest.raises(StoreIOError) as e:
            st.add_pending([(big, 1.0)])
        line = str(e.value)
        assert "\n" not in line and "database or disk is full" in line and "free space" in line
        assert "(the store is intact)" in line and "not a bomix store" not in line and "force" not in line
        assert [s.run_id for s in st.load(["a", "b"])[1]] == ["r00000"]  # rolled back, still usable
        st.add_pending([(RunSpec(Mixture([0.5, 0.5]), "s", 100, seed=2), 1.0)])  # small writes still fit


def test_disk_full_during_a_campaign_is_one_line_and_it_resumes_exactly(tmp_path, monkeypatch, capsys):
    ref = _campaign(tmp_path / "ref", budget=12)
    d = tmp_path / "c"
    _campaign(d, budget=12, max_runs=2)
    with monkeypatch.context() as m:
        _limit_pages(m, 2)
        with pytest.raises(StoreIOError, match="database or disk is full.*the store is intact") as e:
            _campaign(d, budget=12)
        assert "\n" not in str(e.value)
        line = _cli_error(["run", "backend=synthetic", "backend.k=3", "policy=random", "budget=12", "seed=0",
                           "progress=false", f"hydra.run.dir={tmp_path / 'cli'}"], capsys)
        assert "database or disk is full" in line
    with StoreReader(d) as rd:
        n_stored = len(rd.load(["d0", "d1", "d2"])[0])
    assert 2 <= n_stored < 12
    s = _campaign(d, budget=12)  # room again: resumes to the uninterrupted campaign's result
    assert s["n_runs"] == ref["n_runs"] == 12 and s["recommendation"] == ref["recommendation"]
    with StoreReader(d) as a, StoreReader(tmp_path / "ref") as b:
        ra, rb = a.load(["d0", "d1", "d2"])[0], b.load(["d0", "d1", "d2"])[0]
    assert [(r.spec.to_json(), r.curve.to_dict()) for r in ra] == [(r.spec.to_json(), r.curve.to_dict()) for r in rb]


def test_io_errors_on_open_are_never_called_a_damaged_store(tmp_path, monkeypatch, capsys):
    """A study on a full disk: opening (journal mode, -shm) fails with SQLITE_IOERR."""
    import bomix.store.schema as schema

    d = tmp_path / "s"
    with _study(d) as study:
        study.ask()
    before = _files(d)

    def failing_connect(path, *a, **k):
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode, exc.sqlite_errorname = 4874, "SQLITE_IOERR_SHMSIZE"
        raise exc

    monkeypatch.setattr(schema, "_connect", failing_connect)
    monkeypatch.setattr(schema, "_connect_read_only", failing_connect)
    monkeypatch.setattr(schema, "_fs_state", lambda path: (False, 0))
    for args in (["ask", str(d)], ["tell", str(d), "r00000", "--value", "1"], ["show", str(d)]):
        line = _cli_error(args, capsys)
        assert "database or disk is full" in line and "free space" in line and "(the store is intact)" in line
        assert "not a bomix store" not in line and "force" not in line, line
    monkeypatch.setattr(schema, "_fs_state", lambda path: (False, 10**9))
    line = _cli_error(["ask", str(d)], capsys)
    assert "disk I/O error (SQLITE_IOERR_SHMSIZE)" in line and "not a bomix store" not in line
    assert _files(d) == before


def test_a_read_only_store_gives_a_read_only_error_not_a_damaged_one(tmp_path, monkeypatch, capsys):
    """Writes refused by SQLite (SQLITE_READONLY: a read-only file or file system; as root, chmod cannot
    make one, so the store is opened mode=ro here)."""
    import bomix.store.schema as schema

    d = tmp_path / "s"
    with _study(d) as study:
        trial = study.ask()
    before = _files(d)
    monkeypatch.setattr(schema, "_connect", lambda path: sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro",
                                                                         uri=True, isolation_level=None))
    for args in (["ask", str(d)], ["tell", str(d), trial.run_id, "--value", "1"]):
        line = _cli_error(args, capsys)
        assert "cannot write" in line and "readonly database" in line and "make it writable" in line, line
        assert "not a bomix store" not in line
    assert _files(d) == before


def test_readers_open_a_store_on_a_read_only_file_system(tmp_path, monkeypatch, capsys):
    """show / export / bench on a read-only file system (simulated: SQLite opens it immutable there)."""
    import bomix.store.schema as schema

    d = tmp_path / "c"
    _campaign(d)
    monkeypatch.setattr(schema, "_fs_state", lambda path: (True, 0))
    assert main(["show", str(d)]) == 0
    assert main(["export", str(d), "--out", str(tmp_path / "runs.csv")]) == 0
    assert main(["bench", str(d), "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    assert "budget spent" in capsys.readouterr().out


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return r.returncode == 0


@pytest.mark.slow
def test_on_a_real_full_and_read_only_file_system(tmp_path, capsys):
    """The same on a real (tiny tmpfs) file system, where this test may mount one (root, CAP_SYS_ADMIN)."""
    mnt = tmp_path / "mnt"
    if not _mount_tmpfs(mnt, "400k"):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        d = mnt / "s"
        with _study(d) as study:
            a, b = study.ask(), study.ask()
            study.tell(a.run_id, value=2.5)
        fill = mnt / "fill"
        fd = os.open(fill, os.O_WRONLY | os.O_CREAT)
        try:  # fill the file system
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        before = _files(d)
        for args in (["ask", str(d)], ["tell", str(d), b.run_id, "--value", "2"], ["show", str(d)]):
            line = _cli_error(args, capsys)
            assert "database or disk is full" in line and "not a bomix store" not in line, line
        assert _files(d) == before
        fill.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{d / 'store.sqlite'}{suffix}").unlink(missing_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        assert main(["show", str(d)]) == 0 and "1 pending" in capsys.readouterr().out
        line = _cli_error(["tell", str(d), b.run_id, "--value", "2"], capsys)
        assert "read-only file system" in line and "not a bomix store" not in line, line
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# ----- 3. data the budget and the policy rely on ---------------------------------------------------
def test_a_store_edited_to_charge_nothing_cannot_overspend_the_budget(tmp_path):
    d = tmp_path / "c"
    _campaign(d, budget=6, max_runs=4)
    _sql(d, "UPDATE runs SET charged = 0")
    before = _files(d)
    with pytest.raises(StoreDamagedError, match=r"table runs, column charged, run r00000: is 0.0 but its spec "
                       r"\(1B, 20000 steps\) costs 1.0 target-run equivalents.*UPDATE runs SET charged = 1.0") as e:
        _campaign(d, budget=6)
    assert "\n" not in str(e.value) and _files(d) == before
    _sql(d, "UPDATE runs SET charged = 1.0")
    assert _campaign(d, budget=6)["n_runs"] == 6  # set back: resumes and spends exactly the budget


def test_a_study_store_edited_to_charge_nothing_is_refused(tmp_path):
    d = tmp_path / "s"
    with _study(d, budget=3) as study:
        study.tell(study.ask().run_id, value=2.0)
    _sql(d, "UPDATE runs SET charged = 0")
    with pytest.raises(StoreDamagedError, match="column charged, run r00000: is 0.0 but its spec"):
        Study.load(d).ask()


@pytest.mark.parametrize("field,value,says", [
    ("seed", -7, "seed is -7, not an integer in [0,"), ("seed", 1.5, "seed is 1.5"), ("seed", True, "seed is True"),
    ("seed", None, "has no seed"), ("steps", 20000.5, "steps is 20000.5"), ("resume_step", -1, "resume_step is -1"),
    ("tag", 3, "tag is 3"), ("meta", {"hb": "x"}, "meta['hb']"), ("meta", {"attempt": 0}, "meta['attempt']"),
    ("mixture", [0.5, 0.5, "0"], "mixture is"),
])
def test_a_pending_spec_with_a_bad_field_is_never_dispatched(tmp_path, field, value, says):
    calls = []

    class Spy(SyntheticBackend):
        def run(self, spec):
            calls.append(spec)
            return super().run(spec)

    d = tmp_path / "c"
    _campaign(d, budget=3, max_runs=1)
    with Store(d) as st:
        spec = st.spec("r00000", ["d0", "d1", "d2"])
        st.add_pending([(spec.with_(seed=None), 1.0)], seed_for=lambda i: i)
    _sql(d, "UPDATE runs SET spec = json_set(spec, ?, json(?)) WHERE run_id = 'r00001'", f"$.{field}",
         json.dumps(value))
    with pytest.raises(StoreDamagedError, match=r"table runs, column spec, run r00001: .*" + re.escape(says)):
        run_campaign(Spy(k=3), RandomPolicy(), budget=3, seed=0, directory=d)
    assert calls == []


def test_ok_runs_without_a_curve_or_a_finite_objective_are_not_counted_ok(camp, capsys):
    _sql(camp, "UPDATE curves SET value = NULL WHERE run_id = 'r00002'")
    line = _cli_error(["show", str(camp), "--json"], capsys)
    assert "run r00002" in line and "status is ok" in line


# ----- 4. a resumed run trains on the stored floats ----------------------------------------------
def _unstable(k: int, domains=None) -> Mixture:
    """A mixture as a policy proposes it (normalised once) whose renormalisation changes its bits."""
    rng = np.random.default_rng(0)
    for _ in range(10_000):
        m = Mixture(rng.dirichlet(np.ones(k)) * (1 + 1e-9), domains)
        if Mixture(m.weights).weights.tobytes() != m.weights.tobytes():
            return m
    raise AssertionError("no unstable mixture found")


def test_a_mixture_round_trips_through_the_store_bit_exactly(tmp_path):
    domains = [f"d{i}" for i in range(7)]
    mix = _unstable(7, domains)
    w = mix.weights.copy()
    spec = RunSpec(mix, "s", 100, seed=3)
    with Store(tmp_path) as st:
        st.set_meta(domains=domains)
        stored = st.add_pending([(spec, 1.0)])[0]
        st.add_pending([(spec, 1.0)])
        st.finish(RunResult(stored, "ok", Curve([100], {"m": [1.0]}), cost=1.0))
        results, pending, _ = st.load(domains)
    assert results[0].spec.mixture.weights.tobytes() == w.tobytes()
    assert pending[0].mixture.weights.tobytes() == w.tobytes()
    with pytest.raises(BomixError, match="negative"):
        Mixture([1.0 + 1e-9, -1e-9], renormalize=False)  # checked, never clipped
    with pytest.raises(BomixError, match="sum to"):
        Mixture([0.5, 0.6], renormalize=False)


def test_a_campaign_resumed_after_a_kill_dispatches_the_stored_floats(tmp_path):
    """A pending run (dispatched, then the campaign was killed) is run again with its stored weights."""
    seen = []

    class Recording(SyntheticBackend):
        def run(self, spec):
            seen.append(spec.mixture.weights.tobytes())
            return super().run(spec)

    d = tmp_path / "c"
    _campaign(d, budget=3, max_runs=1)
    mix = _unstable(3, ["d0", "d1", "d2"])
    with Store(d) as st:  # as the killed campaign dispatched it
        spec = st.spec("r00000", ["d0", "d1", "d2"])
        st.add_pending([(spec.with_(seed=None, mixture=mix), 1.0)], seed_for=lambda i: i)
    run_campaign(Recording(k=3), RandomPolicy(), budget=3, seed=0, directory=d)
    assert seen[0] == mix.weights.tobytes()


# ----- 5. show: pending runs' age and orphans ------------------------------------------------------
def test_show_flags_the_pending_runs_of_a_dead_campaign_as_orphaned(camp, capsys):
    from bomix.lock import CampaignLock
    from bomix.study.show import report

    with Store(camp) as st:
        spec = st.spec("r00000", ["d0", "d1", "d2"])
        st.add_pending([(spec.with_(seed=None), 1.0)], seed_for=lambda i: i)
    _sql(camp, "UPDATE runs SET dispatched_at = ? WHERE run_id = 'r00003'", time.time() - 7200)
    rep = report(camp)
    assert rep["status"] == "interrupted" and rep["lock_held"] is False and rep["n_orphaned"] == 1
    row = next(r for r in rep["runs"] if r["run_id"] == "r00003")
    assert row["orphaned"] and 7190 < row["age_s"] < 7300
    assert main(["show", str(camp)]) == 0
    text = capsys.readouterr().out
    assert "interrupted" in text and "orphaned: no process holds the campaign's lock" in text and "(2.0 h old, orphaned?)" in text
    with CampaignLock(camp):  # a live campaign holds its lock: its pending runs are running
        rep = report(camp)
    assert rep["status"] == "running" and rep["lock_held"] is True and rep["n_orphaned"] == 0


def test_show_flags_a_studys_old_pending_runs(tmp_path, capsys):
    from bomix.study.show import report

    d = tmp_path / "s"
    with _study(d) as study:
        a, b = study.ask(), study.ask()
    rep = report(d)
    assert rep["status"] == "running" and rep["n_orphaned"] == 0 and rep["lock_held"] is None
    _sql(d, "UPDATE runs SET dispatched_at = ? WHERE run_id = ?", time.time() - 3 * 86400, a.run_id)
    rep = report(d)
    assert rep["status"] == "running" and rep["n_orphaned"] == 1  # b is recent
    _sql(d, "UPDATE runs SET dispatched_at = ?", time.time() - 3 * 86400)
    rep = report(d)
    assert rep["status"] == "stalled" and rep["n_orphaned"] == 2 and rep["oldest_pending_age_s"] > 2 * 86400
    assert report(d, orphan_after=4 * 86400)["status"] == "running"
    assert main(["show", str(d)]) == 0
    assert "2 of 2 pending run(s) were dispatched more than 24.0 h ago" in capsys.readouterr().out
    assert json.loads(json.dumps(rep))["runs"][0]["orphaned"] is True


def test_an_edit_between_two_incremental_reads_is_refused_too(tmp_path):
    d = tmp_path / "s"
    with _study(d) as study:
        a, b = study.ask(), study.ask()
        study.tell(a.run_id, value=2.5)
        study.history()
        _sql(d, "UPDATE runs SET finish_seq = 99 WHERE run_id = ?", b.run_id)  # pending, with a finish number
        with pytest.raises(StoreDamagedError, match=f"table runs, column status, run {b.run_id}: is 'pending' on a "
                           "run with a finish number"):
            study.history()
        _sql(d, "UPDATE runs SET finish_seq = NULL WHERE run_id = ?", b.run_id)
        assert [s.run_id for s in study.history().pending] == [b.run_id]  # nothing was taken from the bad read
