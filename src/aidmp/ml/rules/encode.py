"""Baskets to a one-hot basket x item matrix, for the association-rule miner.

Two inputs are understood: a list of baskets (each an iterable of item labels) and a long
frame with one row per (basket, item) -- pandas, polars or pyarrow. Both end as a boolean CSR
matrix whose columns follow the *sorted* item labels, so item ids compare like the labels and
every tuple built from them is sorted. A label repeated inside a basket counts once, as in
arules (``ta_unique``); an empty basket in a list still counts as a transaction.

Example:
    >>> enc = encode_lists([["milk", "bread"], ["milk"], []])
    >>> enc.items, enc.matrix.shape, int(enc.matrix.nnz)
    (['bread', 'milk'], (3, 2), 3)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from aidmp.errors import ValidationError

Item: TypeAlias = str | int
"""An item label (product id, category...): any hashable, sortable value; str or int in practice."""


def object_array(labels: Sequence[Item]) -> np.ndarray:
    """Labels as a 1-D object array (``np.asarray`` would split tuple labels into columns)."""
    out = np.empty(len(labels), dtype=object)
    out[:] = labels
    return out


@dataclass(frozen=True)
class EncodedBaskets:
    """A boolean ``n_baskets x n_items`` CSR matrix; column ``j`` is the item ``items[j]``."""

    matrix: sp.csr_matrix
    items: list[Item]

    @property
    def n_baskets(self) -> int:
        """Number of baskets (rows), empty ones included."""
        return int(self.matrix.shape[0])


def _is_missing(item: object) -> bool:
    return item is None or (isinstance(item, float) and math.isnan(item))


def _build(rows: np.ndarray, cols: np.ndarray, n_rows: int, labels: list[Item]) -> EncodedBaskets:
    if n_rows == 0:
        raise ValidationError("no baskets given; pass at least one basket of items",
                              field="baskets")
    if rows.size == 0:
        raise ValidationError(f"all {n_rows} baskets are empty; at least one item is needed",
                              field="baskets")
    ones = np.ones(rows.size, dtype=np.int32)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(n_rows, len(labels)))
    matrix.sum_duplicates()  # an item listed twice in a basket is still one purchase
    return EncodedBaskets(matrix.astype(bool), labels)


def encode_lists(baskets: Sequence[Iterable[Item]]) -> EncodedBaskets:
    """Encode a sequence of baskets, each an iterable of item labels.

    Raises:
        ValidationError: no baskets, only empty ones, a basket that is a plain string, a
            missing (None/NaN) or unhashable item, or labels that cannot be ordered together.
    """
    if isinstance(baskets, str | bytes) or not isinstance(baskets, Iterable):
        raise ValidationError("expected a list of baskets (lists of items) or a long frame",
                              field="baskets")
    ids: dict[Item, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    n_rows = 0
    for row, basket in enumerate(baskets):
        n_rows += 1
        if isinstance(basket, str | bytes) or not isinstance(basket, Iterable):
            raise ValidationError(f"basket {row} is {type(basket).__name__!s}, not a list of "
                                  "items; wrap single items in a list", field="baskets")
        for item in basket:
            if _is_missing(item) or not isinstance(item, Hashable):
                raise ValidationError(f"basket {row} holds the item {item!r}; items must be "
                                      "non-missing, hashable labels", field="baskets")
            rows.append(row)
            cols.append(ids.setdefault(item, len(ids)))
    try:
        labels = sorted(ids)
    except TypeError as exc:
        raise ValidationError("item labels cannot be ordered together (mixed types?); use "
                              "labels of one type, e.g. all strings", field="baskets") from exc
    remap = np.empty(len(labels), dtype=np.int64)
    remap[[ids[label] for label in labels]] = np.arange(len(labels))
    return _build(np.asarray(rows, dtype=np.int64),
                  remap[np.asarray(cols, dtype=np.int64)], n_rows, labels)


def is_frame(obj: object) -> bool:
    """Whether ``obj`` is a pandas, polars or pyarrow table (not a list of baskets)."""
    module = type(obj).__module__.split(".", 1)[0]
    return isinstance(obj, pd.DataFrame | pa.Table) or module == "polars"


def long_to_arrow(frame: Any, basket_col: str, item_col: str) -> pa.Table:
    """The two columns of a pandas/polars/pyarrow long frame as an Arrow table."""
    if isinstance(frame, pa.Table):
        columns = list(frame.column_names)
    elif hasattr(frame, "collect_schema"):  # polars: asks a LazyFrame without running it
        columns = list(frame.collect_schema().names())
    else:
        columns = list(frame.columns)
    for field, name in (("basket_col", basket_col), ("item_col", item_col)):
        if name not in columns:
            raise ValidationError(f"column {name!r} not in the frame; columns: "
                                  f"{', '.join(map(str, columns))}", field=field)
    if isinstance(frame, pa.Table):
        table = frame.select([basket_col, item_col])
    elif isinstance(frame, pd.DataFrame):
        table = pa.Table.from_pandas(frame[[basket_col, item_col]], preserve_index=False)
    else:  # polars (a LazyFrame is collected here)
        picked = frame.select([basket_col, item_col])
        table = (picked.collect() if hasattr(picked, "collect") else picked).to_arrow()
    for field, name in (("basket_col", basket_col), ("item_col", item_col)):
        nulls = table.column(name).null_count
        if nulls:
            raise ValidationError(f"column {name!r} has {nulls} missing values; drop or fill "
                                  "them first", field=field)
    return table


def _plain(column: pa.ChunkedArray) -> pa.Array:
    arr = column.combine_chunks()
    if pa.types.is_dictionary(arr.type):  # categoricals: their unused categories must not count
        arr = arr.cast(arr.type.value_type)
    return arr


def encode_long(
    frame: Any, basket_col: str = "basket_id", item_col: str = "item"
) -> EncodedBaskets:
    """Encode a long frame (one row per basket and item) without a Python loop per row.

    Baskets are numbered in order of first appearance. Labels are sorted by Arrow, whose
    byte-wise string order is Python's code-point order, so both encoders agree.
    """
    table = long_to_arrow(frame, basket_col, item_col)
    baskets = _plain(table.column(basket_col)).dictionary_encode()
    items = _plain(table.column(item_col)).dictionary_encode()
    order = pc.sort_indices(items.dictionary).to_numpy()
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    labels: list[Item] = items.dictionary.take(pa.array(order)).to_pylist()
    rows = baskets.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    cols = rank[items.indices.to_numpy(zero_copy_only=False)]
    return _build(rows, cols, len(baskets.dictionary), labels)


def baskets_from_long(frame: Any, basket_col: str = "basket_id",
                      item_col: str = "item") -> list[list[Item]]:
    """Long form (one row per basket and item) to a list of baskets.

    Baskets keep their order of first appearance; items inside a basket are sorted and unique.

    Args:
        frame: a pandas, polars or pyarrow table.
        basket_col: the column that names the basket (order id, receipt, session...).
        item_col: the column with the item label.

    Example:
        >>> import pandas as pd
        >>> long = pd.DataFrame({"basket_id": [7, 7, 3], "item": ["tea", "jam", "tea"]})
        >>> baskets_from_long(long)
        [['jam', 'tea'], ['tea']]
    """
    if not is_frame(frame):
        raise ValidationError(f"expected a pandas, polars or pyarrow table, got "
                              f"{type(frame).__name__}", field="frame")
    enc = encode_long(frame, basket_col, item_col)
    labels = object_array(enc.items)
    indptr, indices = enc.matrix.indptr, enc.matrix.indices
    return [labels[np.sort(indices[indptr[r]:indptr[r + 1]])].tolist()
            for r in range(enc.n_baskets)]
