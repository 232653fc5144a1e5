"""PNG of a budget allocation: response curves with current/optimal spend, and the split.

Example:
    >>> import tempfile, numpy as np, pyarrow as pa
    >>> from pathlib import Path
    >>> from aidmp.campaigns.optimiser.model import BudgetOptimiser
    >>> x = np.linspace(10.0, 100.0, 6)
    >>> opt = BudgetOptimiser().fit(pa.table({"channel": ["tv"] * 6, "period": range(6),
    ...                                       "spend": x, "return": 90 * (1 - np.exp(-x / 40))}))
    >>> out = Path(tempfile.mkdtemp()) / "alloc.png"
    >>> plot_allocation(opt.curves_, opt.allocate(80.0), out).read_bytes()[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aidmp.campaigns.optimiser.curves import ResponseCurve

if TYPE_CHECKING:
    from aidmp.campaigns.optimiser.allocation import AllocationResult
    from aidmp.campaigns.optimiser.given import TableCurve


def plot_allocation(curves: Mapping[str, ResponseCurve | TableCurve], result: AllocationResult,
                    path: Path,
                    *, top: int = 12) -> Path:
    """Draw the ``top`` channels by optimal spend and save a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    rows = sorted(result.channels, key=lambda r: r.spend, reverse=True)[:top]
    fig, (ax_c, ax_b) = plt.subplots(1, 2, figsize=(13, 5.5))
    colours = plt.get_cmap("tab20")
    for k, row in enumerate(rows):
        curve = curves[row.unit]
        hi = max(row.max_spend, row.current_spend, row.spend) * 1.05
        xs = np.linspace(0.0, hi, 200)
        colour = colours(k % 20)
        ax_c.plot(xs, curve.predict(xs), color=colour, label=f"{row.unit} (R² {row.r2:.2f})")
        ax_c.scatter([row.current_spend], [row.current_return], color=colour, marker="o",
                     facecolors="none")
        ax_c.scatter([row.spend], [row.expected_return], color=colour, marker="*", s=90)
    ax_c.set(title="Response curves (o current, * optimal)", xlabel="spend per period",
             ylabel="expected return")
    ax_c.legend(fontsize=7, loc="lower right")
    pos = np.arange(len(rows))
    ax_b.barh(pos - 0.2, [r.current_spend for r in rows], height=0.4, label="current")
    ax_b.barh(pos + 0.2, [r.spend for r in rows], height=0.4, label="optimal")
    ax_b.set_yticks(pos, [r.unit for r in rows], fontsize=8)
    ax_b.invert_yaxis()
    uplift = f"{result.uplift_pct:+.1f}%" if result.uplift_pct is not None else "n/a"
    ax_b.set(title=f"Allocation of {result.total:,.0f}: return {result.expected_return:,.0f} "
                   f"vs {result.current_return:,.0f} ({uplift})", xlabel="spend")
    ax_b.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
