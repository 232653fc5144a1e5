"""A 2-D PCA picture of clusters, as a PNG and a self-contained HTML page.

The HTML embeds the PNG as a ``data:`` URI and lists each cluster's size and description, so the
page opens offline and in an e-mail attachment: no CDN, no script.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (30, 3)), rng.normal(5, 1, (30, 3))])
    >>> out = plot_clusters(X, [0] * 30 + [1] * 30, pathlib.Path(tempfile.mkdtemp()) / "c")
    >>> out["png"].read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n", out["html"].suffix
    (True, '.html')
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import PCA

__all__ = ["cluster_projection", "plot_clusters", "projection"]

#: More points than this are subsampled: a scatter of a million dots shows nothing more.
MAX_POINTS = 20_000
#: Points kept for an interactive scatter (a web page draws these in the browser).
WEB_POINTS = 2_000


def projection(matrix: NDArray[np.float64], labels: Sequence[int] | NDArray[np.int64], *,
               max_points: int = WEB_POINTS, random_state: int = 0) -> dict[str, Any]:
    """The first two principal components of ``max_points`` rows drawn at random (all rows
    when there are fewer), rounded for a web page.

    PCA is fitted on the drawn rows only: the picture is of the same sample it shows.

    Returns:
        ``x``, ``y`` and ``cluster`` per point (``-1`` = noise), ``explained`` (share of the
        variance along each axis) and ``rows`` (how many rows the sample was drawn from).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> X = np.vstack([rng.normal(0, 1, (50, 3)), rng.normal(6, 1, (50, 3))])
        >>> got = projection(X, [0] * 50 + [1] * 50, max_points=40)
        >>> len(got["x"]), got["rows"], sorted(set(got["cluster"])), got["explained"][0] > 0.8
        (40, 100, [0, 1], True)
    """
    lab = np.asarray(labels)
    rows = np.arange(len(lab))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, max_points,
                                                                  replace=False))
    X = np.asarray(matrix, dtype="float64")[rows]
    n_comp = min(2, X.shape[1], X.shape[0])
    if n_comp == 0:
        return {"x": [], "y": [], "cluster": [], "explained": [0.0, 0.0], "rows": len(lab)}
    pca = PCA(n_components=n_comp, random_state=random_state)
    xy = pca.fit_transform(X)
    if n_comp < 2:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    explained = [*pca.explained_variance_ratio_.tolist(), 0.0][:2]
    return {"x": np.round(xy[:, 0], 4).tolist(), "y": np.round(xy[:, 1], 4).tolist(),
            "cluster": [int(c) for c in lab[rows].tolist()],
            "explained": [round(float(e), 4) for e in explained], "rows": len(lab)}


def cluster_projection(model: Any, *, max_points: int = WEB_POINTS) -> dict[str, Any]:
    """:func:`projection` of a fitted :class:`~aidmp.ml.clustering.model.ProfileClusterer`'s
    standardised features (the sample it keeps for plots), for models saved without one."""
    return projection(model.plot_matrix_, model.plot_labels_, max_points=max_points,
                      random_state=int(getattr(model, "random_state", 0) or 0))


def plot_clusters(
    matrix: NDArray[np.float64], labels: Sequence[int] | NDArray[np.int64], path: str | Path,
    *, descriptions: Mapping[int, str] | None = None, title: str = "Profile clusters",
    random_state: int = 0,
) -> dict[str, Path]:
    """Write ``<path>.png`` and ``<path>.html``; return both paths.

    Args:
        matrix: The prepared (standardised) feature matrix the clusters were found in.
        labels: Cluster per row; ``-1`` (noise) is drawn in grey.
        path: Target path; a ``.png`` / ``.html`` suffix is dropped and both files are written.
        descriptions: Optional words per cluster for the legend of the HTML page.
        title: Figure and page title.
        random_state: Seed of the subsample above :data:`MAX_POINTS` rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = Path(path)
    if base.suffix.lower() in {".png", ".html", ".htm"}:
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    lab = np.asarray(labels)
    rows = np.arange(len(lab))
    if len(rows) > MAX_POINTS:
        rows = np.sort(np.random.default_rng(random_state).choice(rows, MAX_POINTS, replace=False))
    X = np.asarray(matrix)[rows]
    n_comp = min(2, X.shape[1], X.shape[0])
    pca = PCA(n_components=n_comp, random_state=random_state)
    xy = pca.fit_transform(X)
    if n_comp < 2:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    explained = [*pca.explained_variance_ratio_.tolist(), 0.0][:2]

    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=100)
    cmap = plt.get_cmap("tab10")
    sub = lab[rows]
    for i, cluster in enumerate(sorted(set(sub.tolist()))):
        pick = sub == cluster
        colour = "#b0b0b0" if cluster == -1 else cmap(i % 10)
        name = "noise" if cluster == -1 else f"cluster {cluster}"
        ax.scatter(xy[pick, 0], xy[pick, 1], s=6, alpha=0.6, color=colour,
                   label=f"{name} ({int((lab == cluster).sum())})")
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, markerscale=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    png = buf.getvalue()
    png_path = base.with_suffix(".png")
    png_path.write_bytes(png)

    items = "".join(
        f"<tr><td>{'noise' if c == -1 else c}</td><td>{int((lab == c).sum())}</td>"
        f"<td>{html.escape((descriptions or {}).get(c, ''))}</td></tr>"
        for c in sorted(set(lab.tolist())))
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:.2em .8em;text-align:left}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<img alt=\"PCA scatter of the clusters\" src=\"data:image/png;base64,"
        f"{base64.b64encode(png).decode('ascii')}\">"
        "<table><thead><tr><th>cluster</th><th>profiles</th><th>description</th></tr></thead>"
        f"<tbody>{items}</tbody></table></body></html>\n")
    html_path = base.with_suffix(".html")
    html_path.write_text(page, encoding="utf-8")
    return {"png": png_path, "html": html_path}
