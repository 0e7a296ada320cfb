"""The README's "Use bomix from your own training script" example runs as written (in two processes too)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Use bomix from your own training script"


def readme_example() -> str:
    text = README.read_text()
    assert HEADING in text
    section = text.split(HEADING, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_about_twenty_lines():
    assert 12 <= len(readme_example().strip().splitlines()) <= 25


def test_readme_example_runs_and_spends_the_budget(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(readme_example())
    procs = [subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # two workers, as the README says
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "'mixture'" in out
    summary = json.loads((tmp_path / "runs" / "my_study" / "summary.json").read_text())
    assert summary["budget_used"] <= 3.0 + 1e-9 and summary["n_runs"] == summary["n_ok"] >= 3
    assert summary["best_observed"]["fidelity"] == {"scale": "1B", "steps": 4000}
