"""Model inputs read from the store, and model outputs written back to it.

Every reader starts from ``events`` joined to ``event_profiles`` (written by
``dmp.identity.resolve()``), so models see people as resolved profiles, never as raw ids.
Event properties are read with ``engine.json_text`` so the queries run on every engine.

Example:
    >>> check_property("revenue")
    'revenue'
    >>> basket_items({"products": [{"product_id": "milk"}, "bread"]}, "products", "product_id")
    ['milk', 'bread']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import ibis
import numpy as np
import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.privacy.consent import SCORING_PURPOSE, TRAINING_PURPOSE, refused
from aidmp.store.schema import TABLES

__all__ = ["basket_items", "basket_pairs", "baskets", "check_property", "item_names",
           "profile_events", "write_predictions"]

_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Keys tried, in order, when a basket line is an object rather than a plain id.
ITEM_KEYS = ("product_id", "item_id", "sku", "id", "name")


def check_property(name: str, field: str = "property") -> str:
    """``name`` when it is a plain property name (it becomes part of a JSON path)."""
    if not isinstance(name, str) or not _PROPERTY.match(name):
        raise ValidationError(f"must be a property name of letters, digits and '_' (e.g. "
                              f"'revenue'), got {name!r}", field=field)
    return name


def _need_profiles(engine: Engine) -> None:
    if not engine.has_table("event_profiles"):
        raise ValidationError("events are not mapped to profiles yet; run "
                              "dmp.identity.resolve() (or `aidmp build`) first",
                              field="event_profiles")


def profile_events(engine: Engine, event: str | None = None,
                   numbers: Iterable[tuple[str, str]] = (),
                   texts: Iterable[tuple[str, str]] = ()) -> ibis.Table:
    """Events with their ``profile_id``: ``profile_id, message_id, event, timestamp`` plus
    the named properties (``(column, property)`` pairs) as float64 / text columns.

    Args:
        engine: the store.
        event: only track events of this name; every event of any type when ``None``.
        numbers: properties read as float64 (NULL when absent or not a number).
        texts: properties read as text.
    """
    _need_profiles(engine)
    e, ep = engine.table("events"), engine.table("event_profiles")
    ep = ep.anti_join(refused(engine, TRAINING_PURPOSE), "profile_id")
    if event is not None:
        e = e.filter(e.type == "track", e.event == event)
    joined = e.inner_join(ep, e.message_id == ep.message_id)
    cols: dict[str, Any] = {"profile_id": joined.profile_id, "message_id": joined.message_id,
                            "event": joined.event, "timestamp": joined.timestamp}
    for column, prop in numbers:
        text = engine.json_text(joined.properties, f"$.{check_property(prop)}")
        cols[column] = text.try_cast("float64")
    for column, prop in texts:
        cols[column] = engine.json_text(joined.properties, f"$.{check_property(prop)}")
    return joined.select(**cols)


def count_rows(engine: Engine, expr: ibis.Table) -> int:
    """Number of rows of a query."""
    return int(engine.execute(expr.aggregate(n=expr.count())).column("n")[0].as_py())


def basket_items(props: dict[str, Any], items_property: str, item_key: str | None) -> list[str]:
    """The item ids of one event's property: a list of ids or of line objects, or one id."""
    value = props.get(items_property)
    values = value if isinstance(value, list) else [] if value is None else [value]
    out = []
    for line in values:
        if isinstance(line, dict):
            keys = (item_key,) if item_key else ITEM_KEYS
            found = next((line[k] for k in keys if line.get(k) is not None), None)
            if found is not None:
                out.append(str(found))
        elif line is not None:
            out.append(str(line))
    return out


def baskets(engine: Engine, order_event: str, items_property: str,
            basket_property: str = "order_id", item_key: str | None = None
            ) -> list[list[str]]:
    """Baskets of item ids from ``order_event`` events.

    An event whose ``items_property`` is a list is one basket (its lines are ids or objects
    with ``item_key`` / a usual id key); events with a single id are lines grouped into
    baskets by ``basket_property`` (the message itself when absent).
    """
    check_property(items_property, "items_property")
    check_property(basket_property, "basket_property")
    e = engine.table("events")
    e = e.filter(e.type == "track", e.event == order_event)
    rows = engine.execute(e.select("message_id", "properties"))
    # Parsed here, not in the engine: a JSON array of line objects has no portable engine
    # function (Spark's get_json_object unwraps one-element wildcard matches), and the
    # baskets end in memory for the itemset miner anyway.
    grouped: dict[str, list[str]] = {}
    for message_id, text in zip(rows.column("message_id").to_pylist(),
                                rows.column("properties").to_pylist(), strict=True):
        props = json.loads(text) if text else {}
        if not isinstance(props, dict):
            continue
        many = isinstance(props.get(items_property), list)
        key = message_id if many else str(props.get(basket_property) or message_id)
        grouped.setdefault(key, []).extend(basket_items(props, items_property, item_key))
    return [sorted(set(b)) for b in grouped.values() if b]


def basket_pairs(engine: Engine, order_event: str, items_property: str,
                 basket_property: str = "order_id", item_key: str | None = None
                 ) -> ibis.Table:
    """``(basket_id, item)`` rows of ``order_event`` events, as an engine query: the baskets
    of :func:`baskets` for an engine that mines them itself (Spark MLlib), so they are never
    read into this process.

    A list property gives one basket per event (lines are ids, or objects whose
    ``item_key`` / usual id key is taken); a single id is a line of the basket named by
    ``basket_property`` (the event itself when absent). Rows may repeat; miners count each
    item once per basket.
    """
    check_property(items_property, "items_property")
    check_property(basket_property, "basket_property")
    e = engine.table("events")
    e = e.filter(e.type == "track", e.event == order_event)
    raw = engine.json_text(e.properties, f"$.{items_property}")
    many = raw.startswith("[")
    basket = many.ifelse(e.message_id, engine.json_text(
        e.properties, f"$.{basket_property}").fill_null(e.message_id))
    lines = many.ifelse(engine.json_texts(e.properties, f"$.{items_property}"),
                        ibis.array([raw]))
    rows = e.select(basket_id=basket, line=lines.unnest())
    keys = (check_property(item_key, "item_key"),) if item_key else ITEM_KEYS
    from_object = ibis.coalesce(*[engine.json_text(rows.line, f"$.{k}") for k in keys])
    item = rows.line.startswith("{").ifelse(from_object, rows.line)
    out = rows.select("basket_id", item=item)
    return out.filter(out.item.notnull())


def item_names(engine: Engine, ids: Iterable[str] | None = None) -> dict[str, str]:
    """``item_id -> name`` from the ``items`` catalogue (only named items)."""
    t = engine.table("items")
    t = t.filter(t.name.notnull())
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        t = t.filter(t.item_id.isin(wanted))
    rows = engine.execute(t.select("item_id", "name"))
    return dict(zip(rows.column("item_id").to_pylist(), rows.column("name").to_pylist(),
                    strict=True))


def write_predictions(engine: Engine, profile_ids: Iterable[str],
                      scores: dict[str, np.ndarray[Any, Any]], model: str, version: int) -> int:
    """Upsert one prediction row per profile and key; return the rows written.

    People who withdrew :data:`SCORING_PURPOSE` get none, and their stored scores go."""
    no = refused(engine, SCORING_PURPOSE)
    gone = set(engine.execute(no).column("profile_id").to_pylist())
    if gone:
        engine.delete_rows("predictions", no)
    ids = list(profile_ids)
    keep = np.array([i not in gone for i in ids], dtype=bool)
    ids = [i for i, k in zip(ids, keep, strict=True) if k]
    scores = {key: np.asarray(v)[keep] for key, v in scores.items()}
    now = datetime.now(UTC)
    parts = []
    for key, values in scores.items():
        vals = np.asarray(values, dtype=np.float64)
        parts.append(pa.table({
            "profile_id": pa.array(ids, pa.string()), "key": pa.array([key] * len(ids)),
            "value": pa.array(np.where(np.isfinite(vals), vals, np.nan), from_pandas=True),
            "model": pa.array([model] * len(ids)), "version": pa.array([version] * len(ids),
                                                                      pa.int64()),
            "scored_at": pa.array([now] * len(ids), pa.timestamp("us", tz="UTC")),
        }))
    if not parts:
        return 0
    data = pa.concat_tables(parts).cast(arrow_schema(TABLES["predictions"]))
    return engine.upsert("predictions", data)
