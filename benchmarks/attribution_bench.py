"""Attribution over 10M touchpoints: aidmp (DuckDB via ibis + numpy) vs hand-written pandas.

Generates 10M touchpoints of 1M people on 8 channels over 90 days, and conversions planted
on a channel-dependent rate, in DuckDB with the engine's ``sql()``. Times (median of 3):
building the conversion paths and all five rule models in one query, the Markov transition
counts + removal effects, and the whole ``Attribution.fit``; and the same rule models written
by hand in pandas (the usual alternative). Prints a markdown table and writes
``benchmarks/results/attribution.json``.

Run: ``.venv/bin/python benchmarks/attribution_bench.py [--touches 10000000]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aidmp.campaigns.attribution import (
    Attribution,
    conversion_paths,
    credit_by,
    markov_credit,
    rule_weights,
    transitions,
)
from aidmp.engine.duckdb import DuckDBEngine

CHANNELS = ["search", "email", "social", "display", "affiliate", "video", "direct", "sms"]
RATE = {"search": 40, "email": 60, "social": 15, "display": 10, "affiliate": 25, "video": 10,
        "direct": 30, "sms": 20}  # conversions per 1000 touches: email is planted strongest


def generate(engine: DuckDBEngine, n: int, people: int) -> tuple[int, int]:
    chans = "[" + ", ".join(f"'{c}'" for c in CHANNELS) + "]"
    engine.sql(f"""CREATE OR REPLACE TABLE bench_touch AS
        SELECT 't' || i AS message_id, 'p' || (hash(i) % {people}) AS profile_id,
               TIMESTAMPTZ '2026-01-01 00:00:00+00'
                 + to_seconds(CAST(hash(i * 7 + 1) % (90 * 86400) AS BIGINT)) AS timestamp,
               {chans}[1 + CAST(hash(i * 13 + 2) % 8 AS INTEGER)] AS channel,
               'c' || (hash(i * 17 + 3) % 40) AS campaign
        FROM range({n}) r(i)""")
    rate = " ".join(f"WHEN '{c}' THEN {v}" for c, v in RATE.items())
    engine.sql(f"""CREATE OR REPLACE TABLE bench_conv AS
        SELECT 'o' || message_id AS message_id, profile_id,
               timestamp + to_seconds(CAST(3600 + hash(message_id) % 172800 AS BIGINT))
                 AS timestamp,
               CAST(10 + hash(message_id || 'r') % 200 AS DOUBLE) AS revenue
        FROM bench_touch WHERE hash(message_id || 'c') % 1000 < CASE channel {rate} END""")
    t = engine.sql("SELECT (SELECT count(*) FROM bench_touch), (SELECT count(*) FROM bench_conv)")
    return int(t.column(0)[0].as_py()), int(t.column(1)[0].as_py())


def pandas_rules(touch: pd.DataFrame, conv: pd.DataFrame, lookback_days: float,
                 half_life: float) -> pd.DataFrame:
    """The five rule models as a user would write them in pandas (merge, filter, groupby)."""
    j = conv.rename(columns={"message_id": "conversion_id", "timestamp": "conv_ts"}).merge(
        touch.rename(columns={"timestamp": "touch_ts"}), on="profile_id")
    window = pd.Timedelta(days=lookback_days)
    j = j[(j.touch_ts <= j.conv_ts) & (j.touch_ts > j.conv_ts - window)]
    j = j.sort_values(["conversion_id", "touch_ts", "message_id"])
    g = j.groupby("conversion_id", sort=False)
    pos = g.cumcount()
    n = g["channel"].transform("size")
    age = (j.conv_ts - j.touch_ts).dt.total_seconds() / 86400
    decay = 0.5 ** (age / half_life)
    out = pd.DataFrame({"channel": j.channel, "revenue": j.revenue,
                        "first_touch": (pos == 0).astype(float),
                        "last_touch": (pos == n - 1).astype(float), "linear": 1.0 / n,
                        "time_decay": decay / decay.groupby(j.conversion_id).transform("sum")})
    pb = np.where(n == 1, 1.0, np.where(n == 2, 0.5, np.where(
        pos == 0, 0.4, np.where(pos == n - 1, 0.4, 0.2 / np.maximum(n - 2, 1)))))
    out["position_based"] = pb
    models = ["first_touch", "last_touch", "linear", "time_decay", "position_based"]
    for m in models:
        out[f"{m}_revenue"] = out[m] * out.revenue
    return out.groupby("channel")[models + [f"{m}_revenue" for m in models]].sum()


def channel_attribution(engine: DuckDBEngine, paths_sql: str) -> Any:
    """ChannelAttribution's Markov model (the usual library), if it is importable.

    Its input is one row per distinct path with conversion and null counts, built here in SQL.
    """
    try:
        from ChannelAttribution import markov_model
    except ImportError:
        return None
    t0 = time.perf_counter()
    frame = engine.sql(f"""
        WITH p AS ({paths_sql}),
        conv AS (SELECT path, count(*) AS n FROM (SELECT string_agg(channel, ' > '
                   ORDER BY touch_ts, touch_id) AS path FROM p GROUP BY conversion_id)
                 GROUP BY path),
        lost AS (SELECT path, count(*) AS n FROM (SELECT string_agg(channel, ' > '
                   ORDER BY timestamp, message_id) AS path FROM bench_touch
                   WHERE message_id NOT IN (SELECT touch_id FROM p) GROUP BY profile_id)
                 GROUP BY path)
        SELECT coalesce(conv.path, lost.path) AS path, coalesce(conv.n, 0) AS conv,
               coalesce(lost.n, 0) AS lost
        FROM conv FULL OUTER JOIN lost ON conv.path = lost.path""").to_pandas()
    build_s = time.perf_counter() - t0
    fit_s, res = timed(lambda: markov_model(frame, "path", "conv", var_null="lost", order=1,
                                            out_more=True, verbose=0, flg_pro=False), runs=1)
    effects = dict(zip(res["removal_effects"]["channel_name"],
                       res["removal_effects"]["removal_effect"], strict=True))
    return build_s, fit_s, len(frame), effects


def timed(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--touches", type=int, default=10_000_000)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--skip-pandas", action="store_true")
    args = ap.parse_args()
    lookback, half_life = 30.0, 7.0
    with tempfile.TemporaryDirectory() as tmp:
        engine = DuckDBEngine(Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        n_touch, n_conv = generate(engine, args.touches, args.people)
        gen_s = time.perf_counter() - t0
        touch, conv = engine.table("bench_touch"), engine.table("bench_conv")
        paths = conversion_paths(touch, conv, lookback)

        def rules() -> Any:
            return engine.execute(credit_by(rule_weights(paths, half_life), ["channel"]))

        def markov() -> Any:
            trans = engine.execute(transitions(touch, paths))
            return markov_credit(trans, 1.0, 1.0)[0]

        def fit_all() -> Attribution:
            return Attribution(lookback_days=lookback, half_life_days=half_life).fit(
                engine, touch, conv)

        rows: list[dict[str, Any]] = []
        rules_s, _ = timed(rules)
        rows.append({"step": "aidmp: paths + 5 rule models (DuckDB, one query)", "s": rules_s})
        markov_s, chain = timed(markov)
        rows.append({"step": "aidmp: paths + Markov transitions + removal effects",
                     "s": markov_s})
        fit_s, model = timed(fit_all)
        rows.append({"step": "aidmp: Attribution.fit (all 6 models + totals)", "s": fit_s})
        aidmp_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not args.skip_pandas:
            t0 = time.perf_counter()
            tdf = engine.execute(touch).to_pandas()
            cdf = engine.execute(conv).to_pandas()
            load_s = time.perf_counter() - t0
            pd_s, pd_res = timed(lambda: pandas_rules(tdf, cdf, lookback, half_life))
            rows.append({"step": "pandas: load both tables from DuckDB", "s": load_s})
            rows.append({"step": "pandas: 5 rule models (merge/filter/groupby)", "s": pd_s})
            ours = {r["channel"]: r for r in model.report()}
            # both implementations must agree on the credits
            diff = max(abs(float(pd_res.loc[c, m]) - float(ours[c][m])) for c in ours
                       for m in ("first_touch", "last_touch", "linear", "time_decay",
                                 "position_based"))
        else:
            diff = float("nan")
        ca = channel_attribution(engine, engine.compile(paths))
        ca_effects = None
        if ca is not None:
            build_s, ca_s, n_paths, ca_effects = ca
            rows.append({"step": f"ChannelAttribution: build {n_paths:,} distinct paths "
                                 "(DuckDB SQL)", "s": build_s})
            rows.append({"step": "ChannelAttribution 2.2.5: markov_model order 1 (1 run)",
                         "s": ca_s})
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        engine.close()
    effects = chain.removal_effects_
    result = {"touches": n_touch, "conversions": n_conv, "people": args.people,
              "generate_s": round(gen_s, 2), "rows": [{**r, "s": round(r["s"], 3)} for r in rows],
              "attributed_conversions": model.conversions_, "unattributed": model.unattributed_,
              "removal_effects": {k: round(v, 4) for k, v in effects.items()},
              "markov_top_channel": max(effects, key=lambda c: effects[c]),
              "max_abs_diff_vs_pandas": diff,
              "channelattribution_removal_effects": ca_effects,
              "peak_rss_mb_after_aidmp": round(aidmp_rss),
              "peak_rss_mb_after_pandas": round(peak_rss)}
    print(f"{n_touch:,} touchpoints, {n_conv:,} conversions, {args.people:,} people "
          f"(generated in {gen_s:.1f} s); median of 3\n")
    print("| step | seconds |\n|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['s']:.2f} |")
    print(f"\npeak RSS: {aidmp_rss:.0f} MB after aidmp, {peak_rss:.0f} MB after pandas; "
          f"max |credit diff| aidmp vs pandas = {diff:.2e}")
    print(f"Markov removal effects: {result['removal_effects']}")
    if ca_effects:
        print(f"ChannelAttribution removal effects: "
              f"{ {k: round(float(v), 4) for k, v in ca_effects.items()} }")
    out = Path(__file__).parent / "results" / "attribution.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
