"""Where bomix's shipped data lives: one resolver for a source checkout, an editable and a wheel install.

The repository keeps ``conf/`` and ``simulator/regmix`` at its top level; the wheel maps them into the
package as ``bomix.conf`` and ``bomix.simulators.regmix`` (setuptools ``package-dir`` in pyproject.toml).
Every other module asks this one for those folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bomix.errors import BomixError

#: the checkout's top level when bomix runs from a source tree (None inside a wheel install).
_CHECKOUT = Path(__file__).resolve().parent.parent

#: package name -> the folder it comes from in a checkout (kept in sync with pyproject's package-dir)
PACKAGE_DATA = {"bomix.conf": "conf", "bomix.simulators.regmix": "simulator/regmix"}


def _data_dir(package: str) -> Path:
    try:
        root = resources.files(package)
        path = Path(str(root))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    path = _CHECKOUT / PACKAGE_DATA[package]
    if path.is_dir():
        return path
    raise BomixError(f"bomix data folder {package} is missing from this install: reinstall bomix (pip install bomix)")


def conf_dir() -> Path:
    """The Hydra config folder (``conf/`` of a checkout, ``bomix/conf`` of a wheel)."""
    return _data_dir("bomix.conf")


def regmix_dir() -> Path:
    """The shipped RegMix logged runs and prebuilt simulator (``simulator/regmix``)."""
    return _data_dir("bomix.simulators.regmix")


def checkout_root() -> Path | None:
    """The source checkout's top level, or None when bomix is installed from a wheel."""
    return _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "bomix").is_dir() else None


def resolve_data_path(path: str | Path, marker: str) -> Path:
    """A user path: absolute, else relative to the working directory, else a shipped folder.

    Args:
        path: e.g. ``simulator/regmix/built`` (the repository spelling works in a wheel install too).
        marker: a file that must exist in the folder (e.g. ``simulator.json``).
    """
    p = Path(path).expanduser()
    if p.is_absolute() or (p / marker).is_file():
        return p
    root = checkout_root()
    if root is not None and (root / p / marker).is_file():
        return root / p
    parts = p.parts
    if parts[:2] == ("simulator", "regmix"):
        q = regmix_dir().joinpath(*parts[2:])
        if (q / marker).is_file():
            return q
    return p
