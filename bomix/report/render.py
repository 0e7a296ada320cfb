"""``bomix report``: directories -> one self-contained HTML file (plotly.js inlined: viewable offline)."""

from __future__ import annotations

import functools
from pathlib import Path

from bomix.errors import BomixError, unwritable
from bomix.extras import require

#: what the one-line error of a missing plotly names
WHAT = "bomix report / bomix dashboard"


def require_plotly() -> None:
    """Fail in one line (``pip install 'bomix[report]'``) when plotly is missing: before any work is done."""
    require("plotly", "report", WHAT)


@functools.cache
def plotly_js() -> str:
    """The plotly.js library that the installed plotly ships (about 4.8 MB of text), read once."""
    require_plotly()
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def title_for(paths: list[str | Path]) -> str:
    """``bomix: <first directory>`` (``+ N more`` when there are several)."""
    names = [Path(p).resolve().name or str(p) for p in paths]
    return "bomix: " + names[0] + (f" + {len(names) - 1} more" if len(names) > 1 else "")


def report_html(paths: list[str | Path], title: str | None = None) -> tuple[str, int, int]:
    """The page for ``paths``; returns ``(html, campaigns, figures)``.

    Raises:
        BomixError: plotly missing, a path missing, or no campaign found under ``paths``.
    """
    from bomix.report.data import load
    from bomix.report.page import build, page

    require_plotly()
    data = load(list(paths))
    built = build(data)
    text = page(built, title=title or title_for(paths), plotly_js=plotly_js())
    return text, len(data.campaigns), len(built.figures)


def write_report(paths: list[str | Path], out: str | Path, title: str | None = None) -> dict:
    """Write the page for ``paths`` to ``out`` (atomically: a reader sees the old file or the new one).

    Returns:
        ``{"out", "campaigns", "figures", "bytes"}``.
    """
    from bomix.layout import write_text_atomic

    out = Path(out)
    if out.is_dir():
        raise BomixError(f"--out {out} is a directory: give a file name such as report.html")
    text, n_campaigns, n_figures = report_html(paths, title)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)
    except OSError as exc:
        msg = unwritable(exc, "--out")
        if msg is None:
            raise
        raise BomixError(msg) from None
    return {"out": str(out), "campaigns": n_campaigns, "figures": n_figures, "bytes": len(text.encode())}
