"""Loaders that turn the shared public datasets into aidmp sources, through the real importer.

- **CDNOW** (Fader & Hardie): every purchase line becomes an ``Order Completed`` event of source
  ``cdnow`` (user id = customer id, properties ``quantity`` and ``revenue``). The file has exact
  duplicate lines (the same customer buying the same amount twice on a day), so the message id is
  the line number, not the content.
- **MovieLens-100K**: users become ``identify`` calls with age / gender / occupation / zip,
  ratings become ``Item Rated`` events (``item_id``, ``rating``), movies become catalog items
  with their genres.
- **Groceries**: every basket becomes an ``Order Completed`` event with its ``products``.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> from aidmp.demo.datasets import default_datasets_dir, load_dataset
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> reports = load_dataset(dmp, "groceries", default_datasets_dir() / "groceries")
    >>> reports["baskets"].stored
    9835
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from aidmp.collect.importer import ImportReport, Progress
from aidmp.errors import ValidationError
from aidmp.spec.imports import ImportMapping

if TYPE_CHECKING:
    # typed as the service's view of an installation: the datasets.load job calls these, and
    # aidmp.dmp builds the jobs, so importing it here would close an import cycle
    from aidmp.service.host import Host

DATASETS = ("cdnow", "movielens", "groceries")
_FOLDERS = {"cdnow": "cdnow", "movielens": "movielens-100k", "groceries": "groceries"}


def default_datasets_dir() -> Path:
    """``$AIDMP_DATASETS`` or the ``shared/datasets`` folder beside the repository."""
    env = os.environ.get("AIDMP_DATASETS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return Path("../shared/datasets")


def _need(path: Path) -> Path:
    if not path.exists():
        raise ValidationError(f"{path} not found; point --path at the dataset folder",
                              field="path")
    return path


def cdnow_frame(folder: Path, *, sample: bool = False) -> pl.DataFrame:
    """CDNOW purchase lines: line, customer_id, date (YYYYMMDD text), quantity, revenue."""
    if sample:
        raw = pl.read_csv(_need(folder / "CDNOW_sample.txt"), has_header=False,
                          new_columns=["text"], separator="\x1f")
        names = ["customer_id", "sample_id", "date", "quantity", "revenue"]
    else:
        raw = pl.read_csv(_need(folder / "CDNOW_master.txt"), has_header=False, skip_rows=1,
                          new_columns=["text"], separator="\x1f")
        names = ["customer_id", "date", "quantity", "revenue"]
    parts = raw.select(pl.col("text").str.strip_chars().str.split_exact(" ", 8)).unnest("text")
    # Runs of spaces separate the fields: drop the empty pieces, keep the order.
    cols = pl.concat_list(pl.all()).list.eval(pl.element().filter(pl.element() != ""))
    fields = parts.select(cols.alias("f")).select(
        [pl.col("f").list.get(i).alias(n) for i, n in enumerate(names)])
    return fields.with_row_index("line", offset=1).select(
        pl.col("line").cast(pl.String),
        pl.col("customer_id").str.strip_chars_start("0").alias("customer_id"),
        "date",
        pl.col("quantity").cast(pl.Int64),
        pl.col("revenue").cast(pl.Float64),
    )


def load_cdnow(dmp: Host, folder: Path, progress: Progress | None = None
               ) -> dict[str, ImportReport]:
    """Load CDNOW's master file as ``Order Completed`` events."""
    mapping = ImportMapping(
        source="cdnow", event="Order Completed", user_id_column="customer_id",
        timestamp_column="date", timestamp_format="%Y%m%d", message_id_column="line",
        properties=["quantity", "revenue"],
    )
    return {"orders": dmp.imports.frame(cdnow_frame(folder), mapping, file="CDNOW_master.txt",
                                        progress=progress)}


def movielens_frames(folder: Path) -> dict[str, pl.DataFrame]:
    """MovieLens-100K as three frames: users, ratings, items (with a ``genres`` list)."""
    users = pl.read_csv(_need(folder / "u.user"), separator="|", has_header=False,
                        new_columns=["user_id", "age", "gender", "occupation", "zip_code"],
                        schema_overrides={"user_id": pl.String, "zip_code": pl.String})
    ratings = pl.read_csv(_need(folder / "u.data"), separator="\t", has_header=False,
                          new_columns=["user_id", "item_id", "rating", "timestamp"],
                          schema_overrides={"user_id": pl.String, "item_id": pl.String})
    genres = [line.split("|")[0] for line in (folder / "u.genre").read_text().splitlines()
              if line.strip()]
    item_cols = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *genres]
    items = pl.read_csv(_need(folder / "u.item"), separator="|", has_header=False,
                        new_columns=item_cols, encoding="utf8-lossy", quote_char=None,
                        schema_overrides={"item_id": pl.String})
    flags = pl.concat_list([pl.when(pl.col(g) == 1).then(pl.lit(g)) for g in genres])
    items = items.with_columns(flags.list.drop_nulls().alias("genres")).select(
        "item_id", "title", pl.col("genres").list.first().alias("category"), "genres",
        "release_date", "imdb_url")
    ratings = ratings.with_columns(
        (pl.col("user_id") + "-" + pl.col("item_id")).alias("rating_id"))
    return {"users": users, "ratings": ratings, "items": items}


def load_movielens(
    dmp: Host, folder: Path, progress: Progress | None = None
) -> dict[str, ImportReport]:
    """Load MovieLens-100K users (identify), ratings (``Item Rated``) and movies (catalog)."""
    frames = movielens_frames(folder)
    return {
        "users": dmp.imports.frame(frames["users"], ImportMapping(
            source="movielens", type="identify", user_id_column="user_id"), file="u.user"),
        "ratings": dmp.imports.frame(frames["ratings"], ImportMapping(
            source="movielens", event="Item Rated", user_id_column="user_id",
            timestamp_column="timestamp", timestamp_format="unix", message_id_column="rating_id",
            properties=["item_id", "rating"]), file="u.data", progress=progress),
        "items": dmp.imports.frame(frames["items"], ImportMapping(
            source="movielens", type="item", item_id_column="item_id", name_column="title",
            category_column="category"), file="u.item"),
    }


def groceries_frame(folder: Path) -> pl.DataFrame:
    """Groceries baskets: basket_id and a ``products`` list of {product_id, category}."""
    lines = (_need(folder / "groceries.csv")).read_text().splitlines()
    baskets = pl.DataFrame({"items": [line.split(",") for line in lines if line.strip()]})
    return baskets.with_row_index("basket", offset=1).select(
        pl.format("basket-{}", pl.col("basket")).alias("basket_id"),
        pl.col("items").list.eval(pl.struct(
            pl.element().alias("product_id"), pl.element().alias("category"))).alias("products"),
        pl.col("items").list.len().alias("quantity"),
    )


def load_groceries(
    dmp: Host, folder: Path, progress: Progress | None = None
) -> dict[str, ImportReport]:
    """Load the Groceries baskets as ``Order Completed`` events (one anonymous buyer each)."""
    mapping = ImportMapping(
        source="groceries", event="Order Completed", anonymous_id_column="basket_id",
        message_id_column="basket_id", properties=["products", "quantity"],
        rename={"basket_id": "order_id"},
    )
    return {"baskets": dmp.imports.frame(groceries_frame(folder), mapping, file="groceries.csv",
                                         progress=progress)}


def load_dataset(
    dmp: Host, name: str, folder: Path | None = None, progress: Progress | None = None
) -> dict[str, ImportReport]:
    """Load one public dataset by name (``cdnow``, ``movielens``, ``groceries``)."""
    loaders = {"cdnow": load_cdnow, "movielens": load_movielens, "groceries": load_groceries}
    if name not in loaders:
        raise ValidationError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}",
                              field="dataset")
    return loaders[name](dmp, folder or default_datasets_dir() / _FOLDERS[name], progress)
