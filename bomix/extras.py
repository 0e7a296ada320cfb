"""Optional dependencies: import one lazily, or fail in one line naming the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from bomix.errors import BomixError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise ``BomixError("<what> needs <module>: pip install 'bomix[<extra>]'")``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise BomixError(f"{what} needs {top}: pip install 'bomix[{extra}]'") from None
