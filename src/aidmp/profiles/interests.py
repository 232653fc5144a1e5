"""Interest scores per category with time decay: I(i,u) = sum_t w_t * p_t(i,u).

Each event contributes its event-name weight, scaled by rating / 5 for rating events, decayed
by ``0.5 ** (age_days / half_life)``, to every category it carries: properties (``category``,
the first product's category) and, through the catalog, the item's category and genres.
Scores are divided by the person's strongest interest, so the top interest is 1.0 and
``interest("fashion") > 0.5`` means "at least half as strong as their main interest"; so they
do not depend on the reference time, and ages are counted from the person's newest weighted
event (a history load years before the wall clock keeps its weights above 0).
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.profiles.common import epoch_seconds as _secs
from aidmp.profiles.common import property_text
from aidmp.spec.profiles import InterestConfig


def interest_scores(engine: Engine, ev: ir.Table, cfg: InterestConfig, *,
                    catalog: bool = True) -> ir.Table:
    """Long form: profile_id, category, score (0-1); ``catalog=False`` (no items stored)
    leaves out the join to the catalog."""
    weights = {k: v for k, v in cfg.weights.items() if v > 0}
    ev = ev.filter(ev.event.isin(list(weights)))
    weight = ibis.cases(*[(ev.event == k, v) for k, v in weights.items()], else_=0.0)
    if cfg.rating_property:
        rating = property_text(engine, ev, cfg.rating_property).try_cast("float64")
        weight = weight * ibis.coalesce(rating / ibis.literal(5.0, "float64"),
                                        ibis.literal(1.0, "float64"))
    # decayed from the person's newest weighted event rather than from the reference time:
    # the same scores (a person's sums all scale by one factor, and are divided by the
    # strongest), but a history load years before the wall clock with a short half-life
    # does not underflow every weight to 0
    newest = ev.timestamp.max().over(group_by=ev.profile_id)
    seconds = (_secs(newest) - _secs(ev.timestamp)).cast("float64")
    rate = ibis.literal(-math.log(2) / cfg.half_life_days / 86400.0, "float64")
    decay = (seconds * rate).exp()
    cats = {f"c{i}": property_text(engine, ev, p) for i, p in enumerate(cfg.category_paths)}
    item = {"item_id": ibis.coalesce(property_text(engine, ev, "item_id"),
                                     property_text(engine, ev, "product_id"))} if catalog else {}
    base = ev.select("message_id", "profile_id", w=weight * decay, **item, **cats)
    parts = [base.select("message_id", "profile_id", "w", category=base[c]) for c in cats]
    if catalog:
        items = engine.table("items")
        with_items = base.join(items, base.item_id == items.item_id)
        parts.append(with_items.select("message_id", "profile_id", "w",
                                       category=with_items.category))
        genres = with_items.select("message_id", "profile_id", "w", category=engine.json_texts(
            with_items.attributes, "$.genres")).unnest("category")
        parts.append(genres)
    # one contribution per (event, category): a genre equal to the item's category counts once
    allrows = ibis.union(*parts, distinct=True)
    allrows = allrows.filter(allrows.category.notnull() & (allrows.category != ""))
    raw = allrows.group_by(["profile_id", "category"]).aggregate(raw=allrows.w.sum())
    top = raw.group_by("profile_id").aggregate(top=raw.raw.max())
    out = raw.join(top, "profile_id")
    return out.select("profile_id", "category",
                      score=ibis.ifelse(out.top > 0, out.raw / out.top, 0.0).round(6))
