"""Figure set-up the benchmark scripts share: one row of panels, a log regret axis per panel, the legend and the save."""

from __future__ import annotations

from pathlib import Path


def panels(n: int, width: float, height: float, cols: int | None = None):
    """``(fig, axes)``: ``n`` panels, ``width`` x ``height`` each, on the Agg backend: one row (``axes[0][i]``), or rows
    of ``cols`` (``axes.flat``; the unused last ones hidden)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = n if cols is None else max(1, min(cols, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def log_regret(ax, title: str, ylabel: str) -> None:
    """A panel's log y axis, its small title and its y label."""
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel)


def save(fig, axes, path: Path) -> None:
    """The first panel's legend, a tight layout, the PNG at 120 dpi; the figure is closed."""
    import matplotlib.pyplot as plt

    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
