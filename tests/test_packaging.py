"""bomix is a real package: a non-editable wheel install runs the demo from outside the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bomix").rglob("__init__.py")}
    found |= {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hydra_plugins").rglob("__init__.py")}
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    mapped = cfg["package-dir"]
    from bomix.paths import PACKAGE_DATA

    assert mapped == PACKAGE_DATA  # one layout: pyproject's mapping is the resolver's
    for pkg, folder in mapped.items():
        assert (ROOT / folder / "__init__.py").is_file(), pkg


def test_missing_extra_fails_in_one_line(monkeypatch):
    from bomix.errors import BomixError
    from bomix.extras import require

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if not installed
    with pytest.raises(BomixError, match=r"needs lightgbm: pip install 'bomix\[lightgbm\]'"):
        require("lightgbm", "lightgbm", "policy=regmix")


@pytest.mark.slow
def test_wheel_install_runs_a_campaign_outside_the_repo(tmp_path):
    import shutil

    src = tmp_path / "src"  # build from a clean copy: no stale build/ in the checkout, nothing written there
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                             "campaigns", "data", "benchmarks", "notebooks", "tests"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("bomix-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    # reuse this environment's dependencies (torch, botorch, ...) without its editable bomix
    (purelib / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    where = subprocess.run([str(py), "-c", "import bomix, bomix.paths as p; print(bomix.__file__); print(p.conf_dir());"
                            " print(p.regmix_dir())"], cwd=outside, env=env, check=True, capture_output=True, text=True)
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(venv.resolve()), where.stdout  # the wheel, not the checkout
    found = subprocess.run([str(py), "-c", "from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import "
                            "Sweeper; import hydra_plugins.bomix_sweeper as m; print(m.__file__); "
                            "print([p.__name__ for p in Plugins.instance().discover(Sweeper)])"],
                           cwd=outside, env=env, check=True, capture_output=True, text=True).stdout
    assert "BomixSweeper" in found and Path(found.split()[0]).resolve().is_relative_to(venv.resolve()), found
    p = subprocess.run([str(venv / "bin" / "bomix"), "run", "+experiment=demo", "policy=random", "budget=2",
                        "max_runs=2", "progress=false", "hydra.run.dir=camp"], cwd=outside, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    summary = json.loads(p.stdout)
    assert summary["backend"] == "regmix-model" and summary["n_runs"] == 2 and summary["regret"] is not None
    assert (outside / "camp" / "store.sqlite").is_file()
