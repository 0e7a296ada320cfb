"""The notebooks under notebooks/ run, are committed with their outputs, and those outputs are what they print now.

One execution per notebook (``test_notebook_runs_and_prints_its_committed_outputs``) checks that it runs without
error and compares the fresh outputs with the committed ones, code cell by code cell: the cell's stdout, its stderr
and each of its text/plain results (figures and HTML are not compared; the HTML of a table repeats its text/plain).
The text between numbers must be identical, and each number must agree within

    |fresh - committed| <= RTOL * max(|fresh|, |committed|) + ATOL + one unit in the last printed digit

with RTOL = 1e-6 and ATOL = 1e-9 (the last-digit unit, of the coarser of the two, only for numbers printed with a
decimal point or an exponent: an integer must match exactly). Why these: the notebooks are seeded and, on one
machine, bit-for-bit deterministic (two runs, and 1 or 2 BLAS threads, print identical digits; torch runs on one
thread in them), so a difference above floating-point noise means the code or the data changed. 1e-6 relative
is many orders of magnitude above the last-bit differences another BLAS kernel or CPU makes in the closed-form
parts (simulator predictions, SLSQP optima), and far below any change a reader would notice; ATOL covers values that are
differences of O(1) losses and land near zero (a regret of 1e-7). A number rounded for display (tables at 3-4
decimals) also gets one unit in its last digit, since a last-bit change can flip a rounding; every key number is
printed in full precision too, in each notebook's last cells (JSON), where the 1e-6 bound applies. Not covered by
any tolerance: a BO campaign (campaign.ipynb) on hardware whose last bits differ can fit a different GP and take
another trajectory; the test then fails like for a code change, and re-running the notebook there is the fix.

Numbers in the prose: a notebook's markdown quotes no result (every result is printed by a cell, so it is compared
above); ``test_prose_quotes_no_run_results`` checks that every decimal, ratio (``5x``) or percentage in a markdown
cell is a setting that appears in the notebook's code.

Data outside the repository: cells tagged ``needs-mfms`` (simulators.ipynb) use the MFMS simulator files, which are
never shipped; they are found at ``$BOMIX_MFMS_PATH`` or ``../shared/data/mfms`` beside the checkout. With the files
there, those cells are compared like any other; without them they must print a note instead (never raise), and
``test_simulators_notebook_without_the_mfms_files`` runs the notebook against an empty MFMS directory, so that case
is checked (the RegMix cells compared, the MFMS cells printing the note) wherever the suite runs.

Runtime (2 CPU cores, 2026-12-06): campaign.ipynb 74-91 s, simulators.ipynb 19-24 s (+13 s without the MFMS
files), online.ipynb 8-12 s; about 2 min for this file.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RTOL, ATOL = 1e-6, 1e-9
MFMS_TAG = "needs-mfms"
MFMS_NOTE = "MFMS simulator not loaded"
# a number not glued to a preceding letter or underscore (so d4, r00016, j8mad2i5 are text; 1B is 1 and B)
NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# in prose: a decimal (0.024, 1.5e-3), a ratio (5x) or a percentage (19%)
PROSE_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d+|\.\d+)(?:[eE][-+]?\d+)?(?!\w|\.\d)"
                          r"|(?<![\w.])\d+(?:\.\d+)?(?:x|%)(?!\w)")


def rerun_command(path: Path) -> str:
    return f"HF_HUB_OFFLINE=1 MPLBACKEND=Agg .venv/bin/jupyter-execute --inplace notebooks/{path.name}"


def mfms_files_present() -> bool:
    from bomix.backends.mfms import FLOPS_FILE, WEIGHTS_FILE, default_path

    root = default_path()
    return (root / WEIGHTS_FILE).is_file() and (root / FLOPS_FILE).is_file()


def execute(path: Path, tmp_path: Path, monkeypatch, **env: str):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    for key, value in {"HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", **env}.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this environment
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def errors(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for c in code_cells(nb) for o in c.get("outputs", []) if o.output_type == "error"]


def texts(cell) -> list[tuple[str, str]]:
    """A code cell's text outputs as ``(label, text)``: all its stdout, all its stderr, then each text/plain result."""
    streams = {"stdout": "", "stderr": ""}
    results = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            streams[o.name] = streams.get(o.name, "") + o.text
        elif o.output_type in ("execute_result", "display_data") and "text/plain" in o.get("data", {}):
            results.append(o.data["text/plain"])
    return [*streams.items(), *((f"result {i + 1}", t) for i, t in enumerate(results))]


def last_digit_unit(token: str) -> float:
    """One unit in the last printed digit of a decimal or exponent token; 0 for an integer (exact)."""
    mantissa, _, exponent = token.lower().partition("e")
    shift = int(exponent) if exponent else 0
    if "." not in mantissa:
        return 10.0**shift if exponent else 0.0
    return 10.0 ** (shift - len(mantissa.split(".")[1]))


def numbers_agree(fresh: str, committed: str) -> bool:
    a, b = float(fresh), float(committed)
    slack = RTOL * max(abs(a), abs(b)) + ATOL + max(last_digit_unit(fresh), last_digit_unit(committed))
    return a == b or abs(a - b) <= slack


def differences(fresh: str, committed: str) -> list[str]:
    """What differs between two texts: lines whose words differ, or numbers outside the tolerance."""
    f_lines, c_lines = fresh.splitlines(), committed.splitlines()
    if [NUMBER.split(x) for x in f_lines] != [NUMBER.split(x) for x in c_lines]:
        out = []
        matcher = difflib.SequenceMatcher(a=c_lines, b=f_lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                was, now = " / ".join(c_lines[i1:i2])[:160], " / ".join(f_lines[j1:j2])[:160]
                out.append(f"committed {was!r} -> fresh {now!r}")
        return out[:4]
    out = []
    for f_line, c_line in zip(f_lines, c_lines):
        for f_num, c_num in zip(NUMBER.findall(f_line), NUMBER.findall(c_line)):
            if not numbers_agree(f_num, c_num):
                out.append(f"{c_num} (committed) vs {f_num} (fresh) in {f_line.strip()[:120]!r}")
    return out


def compare(fresh_nb, committed_nb, skip_tag: str | None = None) -> list[str]:
    """Every difference between two runs of a notebook, as ``In [N] (label): ...`` lines (N: the code cell)."""
    fresh, committed = code_cells(fresh_nb), code_cells(committed_nb)
    out = []
    for i, (f, c) in enumerate(zip(fresh, committed), start=1):
        if skip_tag and skip_tag in c.metadata.get("tags", []):
            continue
        f_texts, c_texts = dict(texts(f)), dict(texts(c))
        for label in sorted(set(f_texts) | set(c_texts)):
            if label not in f_texts or label not in c_texts:
                out.append(f"In [{i}] ({label}): only in the {'committed' if label in c_texts else 'fresh'} run")
                continue
            out += [f"In [{i}] ({label}): {d}" for d in differences(f_texts[label], c_texts[label])]
    return out


def stale_message(path: Path, diffs: list[str]) -> str:
    shown = "\n  ".join(diffs[:12]) + (f"\n  ... and {len(diffs) - 12} more" if len(diffs) > 12 else "")
    extra = " (with the MFMS files in place, see the notebook's first cell)" if path.name == "simulators.ipynb" else ""
    return (f"notebooks/{path.name}: the committed outputs are not what the notebook prints now (tolerance: "
            f"relative {RTOL:g}, absolute {ATOL:g}, one unit in a rounded number's last digit):\n  {shown}\n"
            f"re-run the notebook and save it: {rerun_command(path)}{extra}\n"
            "then read its markdown against the new outputs.")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_prints_its_committed_outputs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nb = execute(path, tmp_path, monkeypatch)
    assert not errors(nb), f"notebooks/{path.name} raised: {errors(nb)}"
    with_mfms = mfms_files_present()
    diffs = compare(nb, nbformat.read(path, as_version=4), skip_tag=None if with_mfms else MFMS_TAG)
    assert not diffs, stale_message(path, diffs)
    if not with_mfms:  # those cells were not compared: they must say why they show nothing
        for i, cell in enumerate(code_cells(nb), start=1):
            if MFMS_TAG in cell.metadata.get("tags", []):
                assert MFMS_NOTE in "".join(t for _, t in texts(cell)), f"In [{i}] prints no note without MFMS"


def test_simulators_notebook_without_the_mfms_files(tmp_path, monkeypatch):
    """Without the MFMS files: no exception, a note in each MFMS cell, and the RegMix parts in full, as committed."""
    nbformat = pytest.importorskip("nbformat")
    path = ROOT / "notebooks" / "simulators.ipynb"
    committed = nbformat.read(path, as_version=4)
    top = committed.cells[0].source
    assert committed.cells[0].cell_type == "markdown" and "BOMIX_MFMS_PATH" in top and "../shared/data/mfms" in top
    (tmp_path / "no-mfms").mkdir()
    nb = execute(path, tmp_path, monkeypatch, BOMIX_MFMS_PATH=str(tmp_path / "no-mfms"))
    assert not errors(nb), f"notebooks/simulators.ipynb raised without the MFMS files: {errors(nb)}"
    tagged = [c for c in code_cells(nb) if MFMS_TAG in c.metadata.get("tags", [])]
    assert tagged, f"no cell is tagged {MFMS_TAG}"
    for cell in tagged:
        printed = "".join(t for _, t in texts(cell))
        assert MFMS_NOTE in printed, f"an MFMS cell printed no note: {printed[:300]!r}"
        assert not any("image/png" in o.get("data", {}) for o in cell.outputs)
    untagged = [c for c in code_cells(nb) if c not in tagged]
    assert sum("image/png" in o.get("data", {}) for c in untagged for o in c.outputs) >= 3, "the RegMix figures"
    diffs = compare(nb, committed, skip_tag=MFMS_TAG)
    assert not diffs, stale_message(path, diffs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_with_its_outputs(path):
    """Committed as run top to bottom (outputs and figures kept), so a reader sees results without running it."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    code = code_cells(nb)
    how = f"re-run the notebook and save it: {rerun_command(path)}"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), how
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], how
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure in the committed outputs"
    printed = "".join(t for c in code for _, t in texts(c))
    assert MFMS_NOTE not in printed, f"committed without the MFMS files: {how} (with the files in place)"
    key = [c for c in code if MFMS_TAG not in c.metadata.get("tags", [])][-1]
    assert isinstance(json.loads(dict(texts(key))["stdout"]), dict), "the last cell prints the key numbers as JSON"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_prose_quotes_no_run_results(path):
    """A decimal, ratio or percentage in the markdown must be a setting written in the code, not a result."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in code_cells(nb))
    quoted = [m for c in nb.cells if c.cell_type == "markdown" for m in PROSE_NUMBER.findall(c.source)]
    results = [q for q in quoted if q.rstrip("x%") not in code]
    assert not results, (f"notebooks/{path.name} quotes {results} in its prose: print results from a cell instead "
                         "(the test compares printed outputs with a fresh run), or say it without the number")
