"""Charts of the campaign reports: ROI by channel, attribution side by side, experiments.

Each function takes what the matching :class:`~aidmp.campaigns.service.Campaigns` method
returns and writes a PNG, or an HTML page holding that PNG (``.html``: one self-contained
file to mail or attach to a ticket), chosen by the file's suffix.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> rows = [{"channel": "cpc", "revenue": 120.0, "cost": 60.0, "roas": 2.0},
    ...         {"channel": "email", "revenue": 30.0, "cost": 0.0, "roas": None}]
    >>> out = plot_roi(rows, Path(tempfile.mkdtemp()) / "roi.html")
    >>> out.read_text().startswith("<!doctype html>")
    True
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aidmp.errors import ValidationError

FORMATS = (".png", ".html")


def _figure(ncols: int, width: float = 6.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 4.8), squeeze=False)
    return fig, axes[0]


def _save(fig: Any, path: Path, title: str) -> Path:
    import matplotlib.pyplot as plt

    if path.suffix.lower() not in FORMATS:
        plt.close(fig)
        raise ValidationError(f"plot file must end in {' or '.join(FORMATS)}, got {path.name!r}",
                              field="plot")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        path.write_bytes(buf.getvalue())
    else:
        data = base64.b64encode(buf.getvalue()).decode()
        path.write_text(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>"
                        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}"
                        f"</h1><img alt='{html.escape(title)}' src='data:image/png;base64,"
                        f"{data}'></body></html>\n")
    return path


def plot_roi(rows: Sequence[Mapping[str, Any]], path: Path, *, key: str = "channel") -> Path:
    """Revenue against cost per ``key`` (left) and ROAS (right), from ``Campaigns.roi``."""
    labels = [str(r[key]) for r in rows]
    fig, (ax_v, ax_r) = _figure(2)
    pos = list(range(len(rows)))
    ax_v.bar([p - 0.2 for p in pos], [float(r.get("cost") or 0.0) for r in rows], width=0.4,
             label="cost")
    ax_v.bar([p + 0.2 for p in pos], [float(r.get("revenue") or 0.0) for r in rows], width=0.4,
             label="attributed revenue")
    ax_v.set_xticks(pos, labels, rotation=30, ha="right", fontsize=8)
    ax_v.set(title=f"Revenue and cost by {key}", ylabel="amount")
    ax_v.legend(fontsize=8)
    roas = [r.get("roas") for r in rows]
    ax_r.bar(pos, [float(x) if x is not None else 0.0 for x in roas],
             color=["tab:green" if x is not None and x >= 1 else "tab:red" for x in roas])
    ax_r.axhline(1.0, color="grey", lw=1, ls="--")
    for p, x in zip(pos, roas, strict=True):
        ax_r.annotate("no cost" if x is None else f"{x:.2f}", (p, float(x or 0.0)),
                      ha="center", va="bottom", fontsize=8)
    ax_r.set_xticks(pos, labels, rotation=30, ha="right", fontsize=8)
    ax_r.set(title="ROAS (revenue / cost; dashed: break-even)", ylabel="ROAS")
    return _save(fig, path, f"ROI by {key}")


def plot_attribution(data: Mapping[str, Any], path: Path) -> Path:
    """Credited conversions per channel by every model, with bootstrap intervals if present."""
    rows, models = data["rows"], list(data["models"])
    fig, (ax,) = _figure(1, width=11.0)
    width = 0.8 / max(len(models), 1)
    for k, m in enumerate(models):
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(rows))]
        ys = [float(r.get(m) or 0.0) for r in rows]
        err = None
        if all(f"{m}_ci" in r for r in rows) and rows:
            err = [[y - r[f"{m}_ci"][0] for y, r in zip(ys, rows, strict=True)],
                   [r[f"{m}_ci"][1] - y for y, r in zip(ys, rows, strict=True)]]
        ax.bar(xs, ys, width=width, label=m.replace("_", " "), yerr=err, capsize=2)
    labels = [" / ".join(str(r[k]) for k in ("channel", "campaign") if k in r) for r in rows]
    ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=8)
    level = f" ({data['ci']:.0%} bootstrap intervals)" if data.get("ci") else ""
    ax.set(title=f"Credited conversions by model, {data['lookback_days']:g}-day look-back{level}",
           ylabel="conversions")
    ax.legend(fontsize=8, ncols=3)
    return _save(fig, path, "Attribution")


def plot_experiment(data: Mapping[str, Any], path: Path) -> Path:
    """Conversion uplift and revenue difference of every arm against control, with CIs."""
    arms = [a for a, c in data["comparisons"].items() if c.get("conversion")]
    if not arms:
        raise ValidationError("the experiment has no arm to compare with its control yet",
                              field="experiment_id")
    fig, (ax_c, ax_r) = _figure(2)
    for ax, what, value, ci, unit in (
            (ax_c, "conversion", "uplift", "uplift_ci", "conversion-rate points"),
            (ax_r, "revenue", "difference", "bootstrap_ci", "revenue per person")):
        ys = [data["comparisons"][a][what][value] for a in arms]
        lo = [data["comparisons"][a][what][ci][0] for a in arms]
        hi = [data["comparisons"][a][what][ci][1] for a in arms]
        ax.errorbar(range(len(arms)), ys, yerr=[[y - low for y, low in zip(ys, lo, strict=True)],
                                                 [h - y for y, h in zip(ys, hi, strict=True)]],
                    fmt="o", capsize=6)
        ax.axhline(0.0, color="grey", lw=1, ls="--")
        ax.set_xticks(range(len(arms)), [f"{a} vs {data['control']}" for a in arms])
        ax.set(title=f"{what.capitalize()}: difference and confidence interval", ylabel=unit)
    return _save(fig, path, f"Experiment {data['experiment_id']}")
