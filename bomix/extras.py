"""Optional dependencies: import one lazily, or fail in one line naming the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from bomix.errors import BomixError


class MissingExtra(BomixError):
    """An optional dependency is not installed: the message names the ``pip install 'bomix[<extra>]'`` line.

    A :class:`BomixError` (the CLI prints it as one line, exit 2) that code catching numerical or input
    errors must let through: a missing package is never a reason to fall back to a default answer."""


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtra("<what> needs <module>: pip install 'bomix[<extra>]'")``.

    Call it where the component is built or bound (before a campaign's first run), not only where the
    module is first used, so a missing extra fails before any work is done."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtra(f"{what} needs {top}: pip install 'bomix[{extra}]'") from None
