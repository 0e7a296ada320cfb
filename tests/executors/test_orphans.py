"""A dead parent leaves no processes behind (issue 21): workers, and multiprocessing's helpers with them.

``kill -9`` of ``bomix run executor=process`` used to leave both workers (~270 MB each) and the
resource tracker alive, reparented to init, for as long as anyone watched.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.executors.parent_watch import EXIT_ORPHANED
from bomix.executors.process import ProcessExecutor
from bomix.runs import RunSpec

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")

# ---------------------------------------------------------------- the process table, from /proc


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of ``pid``; ``None`` once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live descendant of ``root``."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[0] != "Z":
            children.setdefault(st[1], []).append(int(entry.name))
            starts[int(entry.name)] = st[2]
    out, todo = {}, [root]
    while todo:
        for kid in children.get(todo.pop(), []):
            out[kid] = starts[kid]
            todo.append(kid)
    return out


def _alive(procs: dict[int, int]) -> dict[int, str]:
    """Those of ``procs`` (pid -> start time) still running (a zombie or a reused pid counts as gone)."""
    out = {}
    for pid, start in procs.items():
        st = _stat(pid)
        if st is not None and st[0] != "Z" and st[2] == start:
            out[pid] = _cmdline(pid)
    return out


def _wait_gone(procs: dict[int, int], timeout: float = 10.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while (left := _alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill_parent_and_check(proc: subprocess.Popen, tree) -> None:
    """SIGKILL ``proc`` and assert every process of ``tree`` is gone within 10 s."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    left = _wait_gone(tree, timeout=10)
    assert not left, f"still alive 10 s after the parent's SIGKILL: {left}"


def _reap(proc: subprocess.Popen) -> None:
    """Kill ``proc`` if alive and its session's group (every child not moved elsewhere)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_all(procs: dict[int, int]) -> None:
    for pid in _alive(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _bomix() -> list[str]:
    exe = Path(sys.executable).parent / "bomix"
    assert exe.exists(), f"no bomix entry point next to {sys.executable}"
    return [str(exe)]


def _finished_runs(run_dir: Path) -> int:
    store = next(run_dir.rglob("store.sqlite"), None) if run_dir.exists() else None
    if store is None:
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0]
    except sqlite3.Error:  # not created yet, or mid-write
        return 0


# ---------------------------------------------------------------- bomix run executor=process, kill -9


@linux_only
def test_sigkilled_bomix_run_leaves_no_workers_or_resource_tracker(tmp_path):
    run_dir = tmp_path / "run"
    cmd = _bomix() + ["run", "backend=synthetic", "policy=random", "budget=250", "backend.delay=0.1",
                      "executor=process", "batch_size=2", f"hydra.run.dir={run_dir}"]
    with open(tmp_path / "log.txt", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 40
        while True:  # both workers up and runs finishing (initializers done)
            tree = _descendants(proc.pid)
            seen.update(tree)
            workers = [p for p in tree if "--multiprocessing-fork" in _cmdline(p)]
            if len(workers) >= 2 and _finished_runs(run_dir) >= 4:
                break
            assert proc.poll() is None, f"bomix run exited early:\n{(tmp_path / 'log.txt').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no workers after 40 s: {[_cmdline(p) for p in tree]}"
            time.sleep(0.1)
        helpers = [p for p in tree if "resource_tracker" in _cmdline(p) or "forkserver" in _cmdline(p)]
        assert helpers, "expected multiprocessing's resource tracker among the children"

        _kill_parent_and_check(proc, tree)
    finally:
        _reap(proc)
        _kill_all(seen)


# ---------------------------------------------------------------- the helper, in isolation

_CHILD = textwrap.dedent("""
    import os, subprocess, sys, time
    grand = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
    print(grand.pid, flush=True)
    time.sleep(120)
""")


def _middle_and_grandchild(grandchild_code: str) -> tuple[subprocess.Popen, int]:
    """A child (the 'parent' under test) that starts a grandchild running ``grandchild_code`` (argv[1] = its pid)."""
    mid = subprocess.Popen([sys.executable, "-c", _CHILD, grandchild_code], stdout=subprocess.PIPE,
                           start_new_session=True)
    return mid, int(mid.stdout.readline())


def _assert_grandchild_dies_with_middle(grandchild_code: str, timeout: float) -> None:
    mid, grand = _middle_and_grandchild(grandchild_code)
    procs = {}
    try:
        procs = {grand: _stat(grand)[2]}
        time.sleep(1.0)  # the grandchild armed its guards
        assert _alive(procs), "the grandchild exited before its parent did"
        os.kill(mid.pid, signal.SIGKILL)
        mid.wait(timeout=10)
        left = _wait_gone(procs, timeout=timeout)
        assert not left, f"grandchild still alive {timeout} s after its parent's SIGKILL"
    finally:
        mid.kill()
        mid.wait()
        mid.stdout.close()
        _kill_all(procs)


_ARM = "import sys, time; from bomix.executors.parent_watch import die_with_parent; "


@linux_only
def test_watchdog_alone_ends_an_orphan():
    _assert_grandchild_dies_with_middle(_ARM + "die_with_parent(int(sys.argv[1]), pdeathsig=False, poll=0.1); "
                                               "time.sleep(60)", timeout=5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_pdeathsig_alone_ends_an_orphan_at_once():
    # a watchdog that never wakes up: only the kernel's signal can end it within the timeout
    _assert_grandchild_dies_with_middle(_ARM + "die_with_parent(int(sys.argv[1]), poll=3600); "
                                               "time.sleep(60)", timeout=2)


def test_a_parent_already_gone_ends_the_child_at_once():
    """The starting process died before the worker armed its guards: it exits right away."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # exited and reaped: its pid names no process (barring reuse within the test)
    code = f"from bomix.executors.parent_watch import die_with_parent; die_with_parent({dead.pid}); print('alive')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == EXIT_ORPHANED and "alive" not in res.stdout, res


_POOL = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from bomix.executors.parent_watch import die_with_parent, guard_args

    if __name__ == "__main__":
        ctx = multiprocessing.get_context(sys.argv[1])
        ex = ProcessPoolExecutor(2, mp_context=ctx, initializer=die_with_parent, initargs=guard_args())
        for f in [ex.submit(time.sleep, 0.5) for _ in range(4)]:
            f.result()  # both workers up, initializers done
        print("READY", flush=True)
        time.sleep(120)
""")


@linux_only
@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_a_pool_guarded_with_guard_args_dies_with_its_parent(tmp_path, method):
    """The recipe for any process pool (replay fitting, bench sweeps): workers and helpers go with the parent."""
    script = tmp_path / "pool.py"
    script.write_text(_POOL)
    proc = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE, start_new_session=True)
    tree: dict[int, int] = {}
    try:
        assert proc.stdout.readline().strip() == b"READY"
        tree = _descendants(proc.pid)
        assert len(tree) >= 2, {p: _cmdline(p) for p in tree}  # 2 workers (, resource tracker, fork server)
        _kill_parent_and_check(proc, tree)
    finally:
        _reap(proc)
        proc.stdout.close()
        _kill_all(tree)


class _PidBackend(SyntheticBackend):
    def __init__(self, folder: str, **kw):
        super().__init__(**kw)
        self.folder = folder

    def run(self, spec):
        Path(self.folder, f"{spec.run_id}.pid").write_text(str(os.getpid()))
        return super().run(spec)


def test_worker_started_from_a_thread_outlives_that_thread(tmp_path):
    """PR_SET_PDEATHSIG fires when the thread that started the worker exits: not armed off the main thread."""
    ex = ProcessExecutor(workers=1, threads=1)
    backend = _PidBackend(str(tmp_path), k=3, delay=2.0)
    spec = RunSpec(backend.space.center(), backend.space.target.scale, 1000, seed=0, run_id="r00000")

    def start_and_leave():
        ex.start(backend)
        ex.submit(spec)  # the worker is started here, from this thread
        deadline = time.monotonic() + 60
        while not (tmp_path / "r00000.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # the worker's initializer has run: its guards are armed

    t = threading.Thread(target=start_and_leave)
    t.start()
    t.join()
    try:
        assert (tmp_path / "r00000.pid").exists(), "the run never started"
        res = ex.wait()
        assert len(res) == 1 and res[0].ok, res
    finally:
        ex.shutdown()
