"""Missing-value policies, outlier flags, de-duplication and quality reports, on known answers."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import ibis
import numpy as np
import polars as pl
import pyarrow as pa
import pydantic
import pytest
from rich.console import Console
from scipy import stats

from aidmp import DMP
from aidmp.demo.datasets import cdnow_frame, movielens_frames
from aidmp.errors import NotFoundError, ValidationError
from aidmp.quality import (
    MissingPolicy,
    MissingReport,
    OutlierDetector,
    QualityReport,
    apply_missing,
    dedupe_events,
    dedupe_rows,
    flag_outliers,
    profile_source,
    window_repeats,
)

NAN = float("nan")


# --- missing values -----------------------------------------------------------------------------
def test_fill_policies_with_known_answers() -> None:
    df = pl.DataFrame({
        "a": [1.0, None, 3.0, NAN, 5.0],
        "b": pl.Series([1, None, 2, 2, None], dtype=pl.Int64),
        "c": ["x", None, "y", "y", None],
        "d": [None, 2.0, None, 4.0, None],
        "e": pl.Series([None, 7, None, 8, 9], dtype=pl.Int32),
    })
    out, report = apply_missing(df, [
        MissingPolicy(column="a", strategy="mean"),
        MissingPolicy(column="b", strategy="median"),
        MissingPolicy(column="c", strategy="mode"),
        MissingPolicy(column="d", strategy="interpolate"),
        MissingPolicy(column="e", strategy="constant", value=0),
    ])
    assert out["a"].to_list() == [1.0, 3.0, 3.0, 3.0, 5.0]  # NaN counts as missing
    assert out["b"].to_list() == [1.0, 2.0, 2.0, 2.0, 2.0]
    assert out["c"].to_list() == ["x", "y", "y", "y", "y"]
    assert out["d"].to_list() == [None, 2.0, 3.0, 4.0, None]
    assert out["e"].to_list() == [0, 7, 0, 8, 9] and out["e"].dtype == pl.Int32
    figures = {c.column: (c.missing, c.filled, c.remaining, c.fill_value) for c in report.columns}
    assert figures == {
        "a": (2, 2, 0, 3.0), "b": (2, 2, 0, 2.0), "c": (2, 2, 0, "y"),
        "d": (3, 1, 2, None), "e": (2, 2, 0, 0),
    }
    assert (report.rows_in, report.rows_out, report.rows_dropped) == (5, 5, 0)
    assert MissingReport.model_validate_json(report.model_dump_json()) == report


def test_drops_run_first_and_statistics_use_the_remaining_rows() -> None:
    df = pl.DataFrame({"x": [1.0, 2.0, None, 10.0, None], "y": [None, "a", "b", None, "c"],
                       "z": [1, 2, 3, None, 5]})
    out, report = apply_missing(df, [
        MissingPolicy(column="x", strategy="mean"),
        MissingPolicy(column="y", strategy="drop"),
        MissingPolicy(column="z", strategy="drop"),
    ])
    # Rows 0 and 3 go (y missing; row 3 also z); mean of x over rows 1, 2, 4 is 2.0.
    assert out.to_dict(as_series=False) == {"x": [2.0, 2.0, 2.0], "y": ["a", "b", "c"],
                                            "z": [2, 3, 5]}
    by = {c.column: c for c in report.columns}
    assert (by["y"].dropped, by["z"].dropped, report.rows_dropped) == (2, 1, 2)
    assert (by["x"].missing, by["x"].filled, by["x"].fill_value) == (2, 2, 2.0)


def test_mode_tie_takes_the_smallest_and_all_missing_stays_missing() -> None:
    df = pl.DataFrame({"m": ["b", "a", "b", "a", None], "n": pl.Series([None] * 5,
                                                                     dtype=pl.Float64)})
    out, report = apply_missing(df, [MissingPolicy(column="m", strategy="mode"),
                                     MissingPolicy(column="n", strategy="mean")])
    assert out["m"].to_list() == ["b", "a", "b", "a", "a"]
    assert (report.columns[1].filled, report.columns[1].remaining) == (0, 5)


def test_policy_config_is_strict() -> None:
    with pytest.raises(pydantic.ValidationError, match="needs a value"):
        MissingPolicy(column="a", strategy="constant")
    with pytest.raises(pydantic.ValidationError, match="only used by the constant"):
        MissingPolicy(column="a", strategy="mean", value=1)
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        MissingPolicy(column="a", strategy="mean", fill=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="strategy"):
        MissingPolicy(column="a", strategy="average")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        MissingPolicy(column=3, strategy="mean")  # type: ignore[arg-type]
    policy = MissingPolicy.model_validate_json('{"column": "a", "strategy": "constant", '
                                               '"value": "none given"}')
    assert policy.value == "none given"


def test_policy_errors_name_the_problem() -> None:
    df = pl.DataFrame({"a": [1, None], "s": ["x", None]})
    with pytest.raises(ValidationError, match="unknown column 'q'; columns: a, s"):
        apply_missing(df, [MissingPolicy(column="q", strategy="drop")])
    with pytest.raises(ValidationError, match="'mean' needs a numeric column"):
        apply_missing(df, [MissingPolicy(column="s", strategy="mean")])
    with pytest.raises(ValidationError, match="more than one policy"):
        apply_missing(df, [MissingPolicy(column="a", strategy="drop"),
                           MissingPolicy(column="a", strategy="mean")])
    with pytest.raises(ValidationError, match="does not fit column 'a'"):
        apply_missing(df, [MissingPolicy(column="a", strategy="constant", value="lots")])


# --- outliers -----------------------------------------------------------------------------------
def small_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "revenue": [100.0, 150.0, 200.0, 255.0, 9800.0],
        "quantity": [10, None, -40, 12, 14],
    })


def test_iqr_fences_by_hand() -> None:
    # revenue: Q1 150, Q3 255, IQR 105 -> fences -7.5 and 412.5.
    # quantity (-40, 10, 12, 14): Q1 -2.5, Q3 12.5, IQR 15 -> fences -25 and 35.
    out = flag_outliers(small_frame(), ["revenue", "quantity"])
    assert out.columns == ["revenue", "quantity", "is_outlier", "outlier_reason"]
    assert out.height == 5
    assert out["is_outlier"].to_list() == [False, False, True, False, True]
    assert out["outlier_reason"].to_list() == [
        None, None, "quantity -40 below IQR fence -25", None,
        "revenue 9,800 above IQR fence 412.5"]
    detector = OutlierDetector(["revenue", "quantity"]).fit(small_frame())
    assert detector.fences_ == {"revenue": (-7.5, 412.5), "quantity": (-25.0, 35.0)}
    q1, q3 = np.percentile([-40, 10, 12, 14], [25, 75])
    assert detector.fences_["quantity"] == (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1))


def test_fitted_fences_apply_to_new_rows() -> None:
    detector = OutlierDetector("revenue", k=3.0, flag_column="odd", reason_column="why")
    assert detector.fit(small_frame()) is detector
    # k = 3: fences 150 - 315 = -165 and 255 + 315 = 570 (a value on the fence is normal).
    new = pl.DataFrame({"revenue": [500.0, 570.0, 571.0, None, -350.0]})
    out = detector.flag(new)
    assert out["odd"].to_list() == [False, False, True, False, True]
    assert out["why"].to_list() == [None, None, "revenue 571 above IQR fence 570", None,
                                    "revenue -350 below IQR fence -165"]


def test_zscore_matches_scipy() -> None:
    values = [10.0] * 9 + [100.0]
    out = flag_outliers(pl.DataFrame({"x": values}), "x", method="zscore", threshold=2.5)
    z = stats.zscore(values)
    assert out["is_outlier"].to_list() == [bool(abs(v) > 2.5) for v in z]
    assert out["is_outlier"].sum() == 1
    assert out["outlier_reason"][9] == f"x 100 has z-score {z[9]:.2f} (above 86.5)"
    assert flag_outliers(pl.DataFrame({"x": values}), "x", method="zscore")[
        "is_outlier"].sum() == 0  # mean 19, std 27: z = 3.0 is not above 3


def test_isolation_forest_flags_the_planted_points_only() -> None:
    rng = np.random.default_rng(7)
    normal = rng.normal(loc=[50.0, 3.0], scale=[5.0, 1.0], size=(300, 2))
    points = np.vstack([normal, [[400.0, 3.0], [50.0, 40.0]]])
    df = pl.DataFrame({"revenue": points[:, 0], "quantity": points[:, 1]}).with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("revenue"))
        .alias("revenue"))
    out = flag_outliers(df, ["revenue", "quantity"], method="isolation_forest",
                        contamination=0.005, random_state=0)
    assert out.height == 302
    assert out["is_outlier"].arg_true().to_list() == [300, 301]
    assert out["outlier_reason"][300].startswith("isolation forest score -")
    assert out["outlier_reason"][300].endswith("(revenue=400, quantity=3)")
    assert out["is_outlier"][5] is False  # a row with a missing value is not scored


def test_outlier_errors() -> None:
    df = pl.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(ValidationError, match="unknown column 'y'"):
        flag_outliers(df, "y")
    with pytest.raises(ValidationError, match="'s' is String, not numeric"):
        flag_outliers(df, "s")
    with pytest.raises(ValidationError, match="valid methods: iqr, zscore, isolation_forest"):
        flag_outliers(df, "x", method="dbscan")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"call fit\(\) before flag\(\)"):
        OutlierDetector("x").flag(df)


# --- de-duplication on a real engine --------------------------------------------------------------
def event(i: int, second: int, *, user: str | None = "u1", anon: str | None = None,
          name: str = "Clicked", props: dict[str, int] | None = None) -> dict[str, object]:
    msg: dict[str, object] = {"type": "track", "event": name, "messageId": f"m{i}",
                              "timestamp": f"2024-03-05T10:{second // 60:02d}:{second % 60:02d}Z",
                              "properties": props if props is not None else {"b": 1}}
    if user:
        msg["userId"] = user
    if anon:
        msg["anonymousId"] = anon
    return msg


@pytest.fixture()
def burst_dmp(dmp: DMP) -> DMP:
    messages = [
        event(1, 0), event(2, 10), event(3, 35), event(4, 100),     # u1 burst 1-3, then 4
        event(5, 0, user="u2"),                                     # other person
        event(6, 0, user=None, anon="a1"), event(7, 20, user=None, anon="a1"),  # anonymous
        event(8, 5, props={"b": 2}),                                # other properties
        event(9, 5, name="Viewed"),                                 # other event
        event(10, 5, user="u3"),
    ]
    report = dmp.events.ingest(messages, source="web")
    assert report.stored == 10
    # A resent message id is refused by the store itself (idempotent writes).
    assert dmp.events.ingest([event(1, 0)], source="web").duplicates == 1
    return dmp


def test_dedupe_events_window_on_duckdb(burst_dmp: DMP) -> None:
    engine = burst_dmp.engine
    result = dedupe_events(engine.table("events"), window_seconds=30)
    summary = result.summarize(engine)
    # m2 follows m1 by 10 s, m3 follows m2 by 25 s (chain), m7 follows m6 by 20 s.
    assert (summary.kept, summary.dropped) == (7, 3)
    assert summary.by_reason == {"window": 3}
    assert summary.dropped_ids == ["m2", "m3", "m7"]
    dropped = engine.execute(result.dropped.select("message_id", "duplicate_of")
                             .order_by("message_id")).to_pylist()
    assert dropped == [{"message_id": "m2", "duplicate_of": "m1"},
                       {"message_id": "m3", "duplicate_of": "m1"},
                       {"message_id": "m7", "duplicate_of": "m6"}]
    kept = sorted(engine.execute(result.kept).column("message_id").to_pylist())
    assert kept == ["m1", "m10", "m4", "m5", "m6", "m8", "m9"]
    assert result.kept.columns == engine.table("events").columns


@pytest.mark.parametrize(("window", "dropped"), [(0, 0), (9, 0), (10, 1), (25, 3), (65, 4)])
def test_dedupe_events_window_sizes(burst_dmp: DMP, window: int, dropped: int) -> None:
    summary = dedupe_events(burst_dmp.engine.table("events"),
                            window_seconds=window).summarize(burst_dmp.engine)
    assert summary.dropped == dropped
    assert summary.kept + summary.dropped == 10


@pytest.mark.parametrize("window", [0, 10, 25, 65])
def test_window_repeats_of_unique_events_count_what_the_full_dedupe_drops(
        burst_dmp: DMP, window: int) -> None:
    engine = burst_dmp.engine
    full = dedupe_events(engine.table("events"), window_seconds=window)
    dropped = engine.execute(full.dropped.filter(full.dropped.dedupe_reason == "window")
                             .select("message_id")).column(0).to_pylist()
    quick = window_repeats(engine.table("events"), window_seconds=window)
    repeats = engine.execute(quick.select("message_id")).column(0).to_pylist()
    assert sorted(repeats) == sorted(dropped)
    assert len(repeats) == full.summarize(engine).by_reason.get("window", 0)
    with pytest.raises(ValidationError, match="0 or more seconds"):
        window_repeats(engine.table("events"), window_seconds=-1)


def test_dedupe_events_message_id_repeats(burst_dmp: DMP) -> None:
    engine = burst_dmp.engine
    t = engine.table("events")
    doubled = t.union(t.filter(t.message_id.isin(["m4", "m5"])), distinct=False)
    summary = dedupe_events(doubled, window_seconds=30).summarize(engine)
    assert summary.by_reason == {"message_id": 2, "window": 3}
    assert summary.dropped_ids == ["m2", "m3", "m4", "m5", "m7"]
    assert summary.kept == 7
    with pytest.raises(ValidationError, match="0 or more seconds"):
        dedupe_events(t, window_seconds=-1)
    with pytest.raises(ValidationError, match="no column"):
        dedupe_events(t.drop("properties"))


def test_dedupe_rows_keeps_latest_on_engine(burst_dmp: DMP) -> None:
    engine = burst_dmp.engine
    result = dedupe_rows(engine.table("events"), "user_id", "timestamp", id_column="message_id")
    summary = result.summarize(engine)
    # u1 has m1 m2 m3 m4 m8 m9 -> keep m4 (latest); anonymous rows (no user id) all stay.
    assert summary.dropped_ids == ["m1", "m2", "m3", "m8", "m9"]
    assert summary.kept == 5 and summary.by_reason == {"key": 5}


def test_dedupe_rows_crm_frame_any_backend() -> None:
    crm = ibis.memtable(pa.table({
        "email": ["a@x.com", "a@x.com", "b@x.com", None, None, "a@x.com"],
        "name": ["Ann", "Ann B.", "Bob", "?", "??", "Ann C."],
        "updated": [1, 3, 1, 1, 2, None],
        "row": [1, 2, 3, 4, 5, 6],
    }))
    result = dedupe_rows(crm, ["email"], ["updated", "row"])
    kept = result.kept.order_by("row").to_pyarrow().to_pydict()
    assert kept["row"] == [2, 3, 4, 5]
    assert kept["name"] == ["Ann B.", "Bob", "?", "??"]
    dropped = result.dropped.order_by("row").to_pyarrow().to_pydict()
    assert dropped["row"] == [1, 6] and dropped["dedupe_reason"] == ["key", "key"]
    with pytest.raises(ValidationError, match="no column"):
        dedupe_rows(crm, "phone", "updated")


# --- quality report -------------------------------------------------------------------------------
def known_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "email": ["ann@x.com", "bob@x", "n/a", None, "ann@x.com", "  "],
        "country": ["UK", "Deutschland", "Narnia", "US", "UK", "US"],
        "amount": [10.0, 12.0, 11.0, NAN, 10.0, 500.0],
        "seen_at": [datetime(2024, 3, d) for d in (1, 2, 3, 4, 1, 5)],
    })


def test_report_figures_on_a_known_frame() -> None:
    now = datetime(2024, 3, 6, tzinfo=UTC)
    report = profile_source(known_frame(), name="crm", key_columns=["email"], now=now)
    assert (report.source, report.rows, report.duplicate_rows) == ("crm", 6, 1)
    assert report.duplicate_keys == 1  # the second ann@x.com row (None is one key too)
    email = report.column("email")
    assert (email.missing, round(email.missing_rate, 4), email.distinct) == (2, 0.3333, 4)
    assert email.check == "email"
    assert email.invalid == {"domain has no dot": 1, "missing": 1}
    assert report.column("country").invalid == {"unknown country": 1}
    amount = report.column("amount")
    # 10, 10, 11, 12, 500: Q1 10, Q3 12 -> fences 7 and 15; NaN is missing.
    assert (amount.missing, amount.fences, amount.outliers) == (1, (7.0, 15.0), 1)
    assert report.freshness is not None
    assert report.freshness.latest == datetime(2024, 3, 5, tzinfo=UTC)
    assert report.freshness.lag_seconds == 86_400
    assert QualityReport.model_validate_json(report.to_json()) == report
    assert json.loads(report.to_json())["columns"][0]["invalid"]["missing"] == 1
    console = Console(record=True, width=140)
    console.print(report)
    text = console.export_text()
    assert "Data quality: crm" in text and "domain has no dot: 1" in text
    assert "6 rows, 1 duplicate rows" in text and "1.0 days ago" in text
    with pytest.raises(NotFoundError, match="Unknown column 'mail'"):
        report.column("mail")


def test_report_argument_errors() -> None:
    with pytest.raises(ValidationError, match="unknown column"):
        profile_source(known_frame(), checks={"phone": "phone"})
    with pytest.raises(ValidationError, match="unknown kind"):
        profile_source(known_frame(), checks={"email": "zip"})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="not a timestamp or date"):
        profile_source(known_frame(), timestamp_column="amount")


def test_report_on_an_engine_table(burst_dmp: DMP) -> None:
    engine = burst_dmp.engine
    report = profile_source(engine.table("events"), engine=engine, name="events",
                            key_columns=["message_id"], timestamp_column="timestamp",
                            now=datetime(2024, 3, 5, 10, 2, 40, tzinfo=UTC))
    assert (report.rows, report.duplicate_rows, report.duplicate_keys) == (10, 0, 0)
    assert report.column("user_id").missing == 2
    assert report.column("anonymous_id").missing == 8
    assert report.column("event").distinct == 2
    assert report.freshness is not None and report.freshness.lag_seconds == 60


def test_report_movielens_users(datasets: Path) -> None:
    users = movielens_frames(datasets / "movielens-100k")["users"]
    report = profile_source(users, name="u.user", key_columns=["user_id"])
    assert (report.rows, report.duplicate_rows, report.duplicate_keys) == (943, 0, 0)
    assert all(c.missing == 0 for c in report.columns)
    assert report.column("user_id").distinct == 943
    assert report.column("gender").distinct == 2
    assert report.column("occupation").distinct == 21
    with (datasets / "movielens-100k" / "u.user").open() as f:
        ages = [int(row[1]) for row in csv.reader(f, delimiter="|")]
    q1, q3 = np.percentile(ages, [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    age = report.column("age")
    assert age.fences == pytest.approx((low, high))
    assert age.outliers == sum(a < low or a > high for a in ages)


def test_report_cdnow_master(datasets: Path) -> None:
    frame = cdnow_frame(datasets / "cdnow").drop("line")
    raw = (datasets / "cdnow" / "CDNOW_master.txt").read_text().splitlines()[1:]
    rows = Counter(tuple(line.split()) for line in raw if line.strip())
    repeated = sum(n - 1 for n in rows.values())
    report = profile_source(frame, name="cdnow", now=datetime(1998, 7, 1, tzinfo=UTC))
    assert report.rows == 69_659 == sum(rows.values())
    assert report.duplicate_rows == repeated == 255
    assert report.column("customer_id").distinct == 23_570
    assert all(c.missing == 0 for c in report.columns)
    date = report.column("date")  # YYYYMMDD text: checked as timestamps, all valid
    assert (date.check, date.invalid) == ("timestamp", {})
    assert report.freshness is None  # no temporal column until the text is parsed
    dated = frame.with_columns(pl.col("date").str.to_date("%Y%m%d"))
    fresh = profile_source(dated, now=datetime(1998, 7, 1, tzinfo=UTC)).freshness
    assert fresh is not None and fresh.latest == datetime(1998, 6, 30, tzinfo=UTC)
    assert fresh.lag_seconds == 86_400
