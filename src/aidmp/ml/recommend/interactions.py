"""The user x item interaction matrix every recommender is fitted on, with its id maps.

Callers speak in their own user and item ids; the models work on row and column positions.
:class:`Interactions` keeps one (user, item) pair per row - duplicates are summed, keeping the
latest time - and builds the CSR matrix on demand. Splits keep the same id maps, so a train and
a test set always line up column for column.

Example:
    >>> import polars as pl
    >>> df = pl.DataFrame({"user": ["u1", "u1", "u2", "u2"], "item": ["a", "b", "a", "a"],
    ...                    "rating": [5.0, 3.0, 4.0, 1.0]})
    >>> data = Interactions.from_frame(df, "user", "item", weight_col="rating")
    >>> data.shape, data.nnz
    ((2, 2), 3)
    >>> data.matrix.toarray().tolist()
    [[5.0, 3.0], [5.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import scipy.sparse as sp

from aidmp.errors import ValidationError

FrameLike: TypeAlias = pl.DataFrame | pd.DataFrame | pa.Table
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def _as_polars(df: FrameLike) -> pl.DataFrame:
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pa.Table):
        return pl.from_arrow(df)  # type: ignore[return-value]
    if isinstance(df, pd.DataFrame):
        return pl.from_pandas(df)
    raise ValidationError(
        f"expected a polars or pandas DataFrame or a pyarrow Table, got {type(df).__name__}",
        field="df")


def _need_column(df: pl.DataFrame, name: str, what: str) -> pl.Series:
    if name not in df.columns:
        raise ValidationError(
            f"column {name!r} not found; valid columns: {', '.join(df.columns)}", field=what)
    col = df[name]
    if col.null_count():
        raise ValidationError(f"column {name!r} has {col.null_count()} null values", field=what)
    return col


@dataclass(frozen=True, eq=False)
class Interactions:
    """Unique (user, item) pairs with a weight and optional time, over fixed id maps.

    Build it with :meth:`from_frame`; the constructor takes already-coded arrays.

    Attributes:
        users: Row position of each pair.
        items: Column position of each pair.
        weights: Weight of each pair (1.0 without a weight column).
        times: Time of each pair as int64 or float64, or ``None``.
        user_ids: The caller's user id of each row, sorted.
        item_ids: The caller's item id of each column, sorted.
        item_labels: Display names used in reasons (``item_ids`` when missing).
        action: The verb reasons use, as in "because you rated Heat".
    """

    users: IntArray
    items: IntArray
    weights: FloatArray
    times: np.ndarray[Any, Any] | None
    user_ids: np.ndarray[Any, Any]
    item_ids: np.ndarray[Any, Any]
    item_labels: Mapping[Any, str] = field(default_factory=dict)
    action: str = "interacted with"

    @classmethod
    def from_frame(
        cls,
        df: FrameLike,
        user_col: str,
        item_col: str,
        weight_col: str | None = None,
        time_col: str | None = None,
        *,
        action: str = "interacted with",
    ) -> Interactions:
        """Code a long frame of interactions into positions; repeated pairs are merged.

        Args:
            df: One row per interaction (polars, pandas or pyarrow).
            user_col: Column of user ids.
            item_col: Column of item ids.
            weight_col: Numeric column summed per pair; every row counts 1.0 without it.
            time_col: Numeric or datetime column; a merged pair keeps its latest time.
            action: Verb for reasons ("rated", "watched", "bought").

        Raises:
            ValidationError: a missing column, null ids, or a non-numeric weight.
        """
        frame = _as_polars(df)
        user = _need_column(frame, user_col, "user_col")
        item = _need_column(frame, item_col, "item_col")
        if frame.height == 0:
            raise ValidationError("the frame has no rows; need at least one interaction",
                                  field="df")
        cols: dict[str, pl.Series] = {
            # Dense rank over sorted ids is the id -> position map, computed in polars' engine.
            "u": user.rank("dense").cast(pl.Int64) - 1,
            "i": item.rank("dense").cast(pl.Int64) - 1,
            "w": pl.Series("w", np.ones(frame.height, dtype=np.float32)),
        }
        if weight_col is not None:
            weight = _need_column(frame, weight_col, "weight_col")
            if not weight.dtype.is_numeric():
                raise ValidationError(f"column {weight_col!r} must be numeric, not {weight.dtype}",
                                      field="weight_col")
            cols["w"] = weight.cast(pl.Float32)
        if time_col is not None:
            time = _need_column(frame, time_col, "time_col")
            if time.dtype.is_temporal():
                time = time.cast(pl.Datetime("us")).cast(pl.Int64)
            elif not time.dtype.is_numeric():
                raise ValidationError(
                    f"column {time_col!r} must be numeric or datetime, not {time.dtype}",
                    field="time_col")
            cols["t"] = time
        merged = (pl.DataFrame(cols).group_by("u", "i")
                  .agg(pl.col("w").sum(), *([pl.col("t").max()] if "t" in cols else []))
                  .sort("u", "i"))
        return cls(
            users=merged["u"].to_numpy().astype(np.int64),
            items=merged["i"].to_numpy().astype(np.int64),
            weights=merged["w"].to_numpy().astype(np.float32),
            times=merged["t"].to_numpy() if "t" in cols else None,
            user_ids=user.unique().sort().to_numpy(),
            item_ids=item.unique().sort().to_numpy(),
            action=action,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(number of users, number of items) of the id maps."""
        return len(self.user_ids), len(self.item_ids)

    @property
    def nnz(self) -> int:
        """Number of (user, item) pairs."""
        return len(self.users)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The users x items CSR matrix of weights (float32)."""
        return sp.csr_matrix((self.weights, (self.users, self.items)), shape=self.shape)

    @cached_property
    def _user_pos(self) -> dict[Hashable, int]:
        return {uid: pos for pos, uid in enumerate(self.user_ids.tolist())}

    @cached_property
    def _item_pos(self) -> dict[Hashable, int]:
        return {iid: pos for pos, iid in enumerate(self.item_ids.tolist())}

    def user_index(self, user_ids: Iterable[Hashable]) -> IntArray:
        """Row positions of user ids.

        Raises:
            ValidationError: an id that is not in the data (the message shows valid examples).
        """
        return self._lookup(self._user_pos, user_ids, self.user_ids, "user_ids")

    def item_index(self, item_ids: Iterable[Hashable]) -> IntArray:
        """Column positions of item ids.

        Raises:
            ValidationError: an id that is not in the data (the message shows valid examples).
        """
        return self._lookup(self._item_pos, item_ids, self.item_ids, "item_ids")

    @staticmethod
    def _lookup(pos: dict[Hashable, int], ids: Iterable[Hashable],
                known: np.ndarray[Any, Any], what: str) -> IntArray:
        out = []
        for one in ids:
            idx = pos.get(one)
            if idx is None:
                examples = ", ".join(repr(v) for v in known[:3].tolist())
                raise ValidationError(
                    f"unknown id {one!r}; valid ids look like {examples} ({len(known)} known)",
                    field=what)
            out.append(idx)
        return np.asarray(out, dtype=np.int64)

    def label(self, item: int) -> str:
        """The display name of the item at a column position."""
        item_id = self.item_ids[item : item + 1].tolist()[0]
        return self.item_labels.get(item_id, str(item_id))

    def with_labels(self, labels: Mapping[Any, str]) -> Interactions:
        """A copy whose reasons name items by ``labels[item_id]`` (e.g. movie titles)."""
        return replace(self, item_labels=dict(labels))

    def subset(self, keep: np.ndarray[Any, np.dtype[np.bool_]]) -> Interactions:
        """The pairs where ``keep`` is true, over the same id maps."""
        if keep.shape != self.users.shape:
            raise ValidationError(f"mask has shape {keep.shape}; need ({self.nnz},)",
                                  field="keep")
        return replace(self, users=self.users[keep], items=self.items[keep],
                       weights=self.weights[keep],
                       times=None if self.times is None else self.times[keep])

    def at_least(self, min_weight: float) -> Interactions:
        """The pairs whose weight is at least ``min_weight`` (e.g. ratings of 4 and 5)."""
        return self.subset(self.weights >= min_weight)

    def binarize(self) -> Interactions:
        """The same pairs, each with weight 1.0 (implicit feedback)."""
        return replace(self, weights=np.ones_like(self.weights))
