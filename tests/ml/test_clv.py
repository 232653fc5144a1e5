"""CLV models on the CDNOW sample, checked against the published figures and lifetimes.

References (see ``shared/datasets/cdnow/SOURCE.md``): Fader, Hardie & Lee (2005) BG/NBD
r .243, alpha 4.414, a .793, b 2.426, LL -9582.4 (BTYD walkthrough: LL -9582.429);
Gamma-Gamma p 6.25, q 3.74, gamma 15.44; the holdout table by calibration frequency and the
weekly cumulative tracking figures of the BTYD walkthrough.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import calibration_and_holdout_data

from aidmp import DMP
from aidmp.demo.datasets import cdnow_frame, default_datasets_dir
from aidmp.errors import ValidationError
from aidmp.ml.clv import (
    BGNBD,
    GammaGamma,
    NotFittedError,
    cumulative_tracking,
    forecast_errors,
    holdout_table,
    summary_expr,
    transaction_summary,
)
from aidmp.ml.clv.bgnbd import log_likelihood
from aidmp.spec.imports import ImportMapping

CAL_END, OBS_END = "1997-09-30", "1998-06-30"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# The same fit to more digits (BTYD 2.4 walkthrough); used where the paper's 3 digits are too few.
BTYD_BGNBD = {"r": 0.2425982, "alpha": 4.4136842, "a": 0.7929899, "b": 2.4261667}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
SUMMARY_ARGS: dict[str, Any] = {"customer_col": "customer_id", "date_col": "date",
                                "value_col": "revenue", "date_format": "%Y%m%d", "freq": "W"}


def rel(a: object, b: object) -> float:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(x - y) / np.abs(y)))


@pytest.fixture(scope="module")
def cdnow() -> Path:
    return default_datasets_dir() / "cdnow"


@pytest.fixture(scope="module")
def lines(cdnow: Path) -> pl.DataFrame:
    return cdnow_frame(cdnow, sample=True)


@pytest.fixture(scope="module")
def summary(cdnow: Path, lines: pl.DataFrame) -> pd.DataFrame:
    """Our calibration/holdout summary, keyed by the sample id the shipped files use."""
    frame = transaction_summary(lines, calibration_end=CAL_END, observation_end=OBS_END,
                                **SUMMARY_ARGS).to_pandas()
    raw = pd.read_csv(cdnow / "CDNOW_sample.txt", sep=r"\s+", header=None, usecols=[0, 1],
                      names=["master", "ID"])
    ids = raw.drop_duplicates("master").set_index("master")["ID"]
    frame["ID"] = frame["customer_id"].astype(int).map(ids)
    return frame.sort_values("ID").reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(summary: pd.DataFrame) -> BGNBD:
    return BGNBD().fit(summary["frequency"], summary["recency"], summary["T"])


@pytest.fixture(scope="module")
def lifetimes_bg(summary: pd.DataFrame) -> BetaGeoFitter:
    return BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])


# -- the summary ------------------------------------------------------------------------------
def test_summary_equals_the_shipped_lifetimes_summaries(cdnow: Path, summary: pd.DataFrame
                                                        ) -> None:
    shipped = pd.read_csv(cdnow / "cdnow_customers_summary.csv")
    with_money = pd.read_csv(cdnow / "cdnow_customers_summary_with_transactions.csv")
    assert len(summary) == len(shipped) == 2357
    assert summary["ID"].tolist() == shipped["ID"].tolist() == with_money["ID"].tolist()
    # The files hold weeks rounded to 2 decimals: ours must round to exactly the same.
    assert summary["frequency"].tolist() == shipped["frequency"].tolist()
    assert summary["recency"].round(2).tolist() == shipped["recency"].tolist()
    assert summary["T"].round(2).tolist() == shipped["T"].tolist()
    assert summary["frequency"].tolist() == with_money["x"].tolist()
    assert np.all(np.abs(summary["monetary_value"] - with_money["zbar"]) <= 0.005 + 1e-9)


def test_summary_totals_match_source_md(summary: pd.DataFrame) -> None:
    repeaters = summary[summary["frequency"] > 0]
    assert summary["frequency"].sum() == 2457
    assert summary["frequency_holdout"].sum() == 1882
    assert len(repeaters) == 946
    assert round(repeaters["monetary_value"].mean(), 3) == 35.078
    assert set(summary["duration_holdout"]) == {39.0}
    assert round(summary["T"].max(), 2) == 38.86  # a 1 January customer


def test_summary_agrees_with_lifetimes(lines: pl.DataFrame, summary: pd.DataFrame) -> None:
    frame = lines.to_pandas()
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    theirs = calibration_and_holdout_data(
        frame, "customer_id", "date", calibration_period_end=CAL_END,
        observation_period_end=OBS_END, freq="D", freq_multiplier=7,
        monetary_value_col="revenue")
    ours = summary.set_index("customer_id").loc[theirs.index]
    pairs = {"frequency": "frequency_cal", "recency": "recency_cal", "T": "T_cal",
             "monetary_value": "monetary_value_cal", "frequency_holdout": "frequency_holdout",
             "duration_holdout": "duration_holdout"}
    for mine, their in pairs.items():
        np.testing.assert_allclose(ours[mine], theirs[their], rtol=1e-12, atol=1e-9)
    # lifetimes averages the holdout value over purchase *lines* (49 customers here bought
    # twice on a holdout day) while it counts merged days; ours is per merged transaction,
    # like the calibration value. The holdout revenue itself is the same.
    lines_held = frame[(frame["date"] > CAL_END) & (frame["date"] <= OBS_END)]
    n_lines = lines_held.groupby("customer_id").size().reindex(theirs.index, fill_value=0)
    np.testing.assert_allclose(ours["monetary_holdout"] * ours["frequency_holdout"],
                               theirs["monetary_value_holdout"] * n_lines, atol=1e-9)
    assert (np.abs(ours["monetary_holdout"] - theirs["monetary_value_holdout"]) > 1e-9).sum() == 49


def test_summary_known_answers_on_a_small_log() -> None:
    log = pd.DataFrame({
        "who": ["a", "a", "a", "a", "b", "b", "c", "d"],
        "at": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:30", "2024-01-08 10:00",
                              "2024-01-22 23:59", "2024-01-15 08:00", "2024-01-29 08:00",
                              "2024-01-29 12:00", "2024-02-01 12:00"], utc=True),
        "value": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0, 9.0, 1.0],
    })
    args: dict[str, Any] = {"customer_col": "who", "date_col": "at", "value_col": "value"}
    weeks = transaction_summary(log, calibration_end="2024-01-15", observation_end="2024-01-31",
                                **args).to_pydict()
    # d buys only after the observation end and c only in the holdout: neither is a customer
    # of the calibration period. a's two lines on 1 January are one transaction.
    assert weeks == {
        "who": ["a", "b"], "frequency": [1, 0], "recency": [1.0, 0.0], "T": [2.0, 0.0],
        "monetary_value": [20.0, 0.0], "frequency_holdout": [1, 1],
        "monetary_holdout": [40.0, 3.0], "duration_holdout": [16 / 7, 16 / 7]}
    # No observation end: the holdout runs to the latest purchase day (1 February).
    open_end = transaction_summary(log, calibration_end="2024-01-15", **args).to_pydict()
    assert open_end["frequency_holdout"] == [1, 1]
    assert open_end["duration_holdout"] == [17 / 7, 17 / 7]
    days = transaction_summary(log, freq="D", **args)
    # No end given: T runs to the latest purchase day of the whole log (1 February).
    assert days.to_pydict() == {
        "who": ["a", "b", "c", "d"], "frequency": [2, 1, 0, 0], "recency": [21.0, 14.0, 0, 0],
        "T": [31.0, 17.0, 3.0, 0.0], "monetary_value": [30.0, 3.0, 0.0, 0.0]}
    for other in (pl.from_pandas(log), pa.Table.from_pandas(log)):
        assert transaction_summary(other, freq="D", **args).equals(days)
    no_value = transaction_summary(log, customer_col="who", date_col="at", freq="D")
    assert no_value.column_names == ["who", "frequency", "recency", "T"]


def test_summary_expr_runs_on_the_aidmp_engine(tmp_path: Path, lines: pl.DataFrame,
                                               summary: pd.DataFrame) -> None:
    """The CDNOW sample imported as events; the same expression over the events table."""
    mapping = ImportMapping(source="cdnow", event="Order Completed",
                            user_id_column="customer_id", timestamp_column="date",
                            timestamp_format="%Y%m%d", message_id_column="line",
                            properties=["quantity", "revenue"])
    with DMP(home=tmp_path / "home") as dmp:
        assert dmp.imports.frame(lines, mapping, file="CDNOW_sample.txt").stored == 6919
        events = dmp.engine.table("events")
        # Plain text extraction of the JSON field works on DuckDB and Spark alike.
        revenue = events.properties.re_extract(r'"revenue":\s*([-0-9.eE+]+)', 1)
        orders = events.filter(events.event == "Order Completed").mutate(
            revenue=revenue.cast("float64"))
        expr = summary_expr(orders, customer_col="user_id", date_col="timestamp",
                            value_col="revenue", calibration_end=CAL_END, observation_end=OBS_END)
        result = dmp.engine.execute(expr).to_pandas()
    expected = summary.sort_values("customer_id").reset_index(drop=True)
    assert result["user_id"].tolist() == expected["customer_id"].tolist()
    for column in result.columns[1:]:
        np.testing.assert_allclose(result[column], expected[column], rtol=1e-12, atol=1e-9)
    _ = ibis.pyspark  # registers the pyspark compiler's options (no JVM is started)
    spark_sql = ibis.to_sql(expr, dialect="pyspark")
    assert "GROUP BY" in spark_sql and "MIN_BY" in spark_sql.upper()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"customer_col": "nobody"}, "customer_col"),
    ({"freq": "M"}, "freq"),
    ({"date_format": None}, "date_col"),
    ({"calibration_end": "1997-09-30", "observation_end": "1997-01-01"}, "observation_end"),
    ({"calibration_end": "30/09/1997"}, "calibration_end"),
])
def test_summary_rejects_bad_arguments(lines: pl.DataFrame, kwargs: dict[str, object],
                                       field: str) -> None:
    with pytest.raises(ValidationError) as info:
        summary_expr(ibis.memtable(lines), **{**SUMMARY_ARGS, **kwargs})
    assert info.value.field == field


# -- BG/NBD -------------------------------------------------------------------------------
def test_bgnbd_reproduces_the_published_fit(fitted: BGNBD) -> None:
    assert set(fitted.params_) == set(PUBLISHED_BGNBD)
    for name, value in PUBLISHED_BGNBD.items():
        assert fitted.params_[name] == pytest.approx(value, rel=0.01)
    assert round(fitted.log_likelihood_, 1) == -9582.4
    assert fitted.log_likelihood_ == pytest.approx(-9582.429, abs=0.01)
    assert fitted.n_customers_ == 2357


def test_bgnbd_log_likelihood_at_published_parameters(summary: pd.DataFrame,
                                                      fitted: BGNBD) -> None:
    ll = log_likelihood(list(BTYD_BGNBD.values()), summary["frequency"], summary["recency"],
                        summary["T"])
    assert ll.sum() == pytest.approx(-9582.429, abs=0.01)
    assert fitted.log_likelihood_ >= ll.sum() - 1e-6


def test_bgnbd_weights_stand_for_duplicate_rows(summary: pd.DataFrame, fitted: BGNBD) -> None:
    counts = summary.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    grouped = BGNBD().fit(counts["frequency"], counts["recency"], counts["T"], weights=counts["n"])
    assert rel(list(grouped.params_.values()), list(fitted.params_.values())) < 1e-5
    assert grouped.log_likelihood_ == pytest.approx(fitted.log_likelihood_, abs=1e-6)


def test_bgnbd_agrees_with_lifetimes(summary: pd.DataFrame, fitted: BGNBD,
                                     lifetimes_bg: BetaGeoFitter) -> None:
    theirs = {k: float(lifetimes_bg.params_[k]) for k in ("r", "alpha", "a", "b")}
    assert rel(list(fitted.params_.values()), list(theirs.values())) < 1e-4
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    for t in (1.0, 39.0, 52.0):
        ours = fitted.expected_purchases(t, x, t_x, age)
        assert rel(ours, lifetimes_bg.conditional_expected_number_of_purchases_up_to_time(
            t, x, t_x, age)) < 1e-4
    assert rel(fitted.p_alive(x, t_x, age),
               lifetimes_bg.conditional_probability_alive(x, t_x, age)) < 1e-4
    horizon = np.arange(1.0, 79.0)
    assert rel(fitted.expected_purchases_new(horizon),
               lifetimes_bg.expected_number_of_purchases_up_to_time(horizon)) < 1e-4
    # Same formulas at the same parameters: agreement to rounding.
    same = BGNBD().set_params(**theirs)
    assert rel(same.expected_purchases(39.0, x, t_x, age),
               lifetimes_bg.conditional_expected_number_of_purchases_up_to_time(
                   39.0, x, t_x, age)) < 1e-9


def test_bgnbd_penalizer_agrees_with_lifetimes(summary: pd.DataFrame) -> None:
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    ours = BGNBD(penalizer=0.1).fit(x, t_x, age).params_
    theirs = BetaGeoFitter(penalizer_coef=0.1).fit(x, t_x, age).params_
    assert rel(list(ours.values()), [theirs[k] for k in ("r", "alpha", "a", "b")]) < 1e-4
    assert ours["a"] < 0.2  # the penalty pulls the parameters towards 0


def test_bgnbd_known_answers_and_invariants() -> None:
    model = BGNBD().set_params(**BTYD_BGNBD)
    # A customer who never came back is alive by assumption; long silence lowers P(alive).
    assert model.p_alive([0, 2, 2], [0.0, 30.43, 5.0], 38.86).tolist()[0] == 1.0
    alive = model.p_alive([2, 2], [30.43, 5.0], 38.86)
    assert 0 < alive[1] < alive[0] < 1
    # Expectations grow with the horizon and start at 0.
    grid = model.expected_purchases(np.array([0.0, 10.0, 39.0, 100.0]), 2, 30.43, 38.86)
    assert grid[0] == 0 and np.all(np.diff(grid) > 0)
    # A customer seen only at time 0 (x = 0, T = 0) is a new customer: eq. 10 reduces to eq. 9.
    horizon = np.array([1.0, 39.0, 78.0])
    assert model.expected_purchases(horizon, 0, 0.0, 0.0) == pytest.approx(
        model.expected_purchases_new(horizon), rel=1e-12)


def test_bgnbd_errors() -> None:
    with pytest.raises(NotFittedError):
        BGNBD().p_alive(1, 1.0, 2.0)
    with pytest.raises(ValidationError) as info:
        BGNBD().fit([1, 0], [3.0, 0.0], [2.0, 5.0])
    assert info.value.field == "recency"
    with pytest.raises(ValidationError) as info:
        BGNBD().fit([0.5], [0.0], [2.0])
    assert info.value.field == "frequency"
    with pytest.raises(ValidationError) as info:
        BGNBD(penalizer=-1).fit([1], [1.0], [2.0])
    assert info.value.field == "penalizer"


# -- holdout evaluation ---------------------------------------------------------------------
def test_holdout_table_matches_the_published_table(summary: pd.DataFrame, fitted: BGNBD) -> None:
    published = BGNBD().set_params(**BTYD_BGNBD)
    args = (summary["duration_holdout"], summary["frequency"], summary["recency"], summary["T"])
    table = holdout_table(summary["frequency"], summary["frequency_holdout"],
                          published.expected_purchases(*args)).to_pydict()
    assert table["label"] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"] == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert np.round(table["actual_mean"], 3).tolist() == [
        0.237, 0.697, 1.393, 1.560, 2.532, 2.947, 3.862, 6.359]
    assert np.round(table["expected_mean"], 3).tolist() == [
        0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157]
    ours = holdout_table(summary["frequency"], summary["frequency_holdout"],
                         fitted.expected_purchases(*args)).to_pydict()
    np.testing.assert_allclose(ours["expected_mean"], table["expected_mean"], atol=2e-3)


def test_holdout_aggregate_forecast(summary: pd.DataFrame, fitted: BGNBD) -> None:
    expected = fitted.expected_purchases(summary["duration_holdout"], summary["frequency"],
                                         summary["recency"], summary["T"])
    errors = forecast_errors(summary["frequency_holdout"], expected)
    # SOURCE.md: 1,653.4 expected vs 1,882 actual (BG/NBD under-forecasts this holdout by
    # 12 %; the Pareto/NBD does no better). We assert our fit lands there, within 0.5 %.
    assert errors.total_actual == 1882
    assert errors.total_expected == pytest.approx(1653.4, rel=0.005)
    assert -0.125 < errors.aggregate_error < -0.115
    assert errors.customers == 2357
    assert 0 < errors.mae <= errors.rmse
    # Not published: computed here once (same values with the BTYD parameters), kept as a
    # known answer for the per-customer errors.
    assert errors.mae == pytest.approx(0.7855, abs=5e-4)
    assert errors.rmse == pytest.approx(1.6080, abs=5e-4)


def test_cumulative_tracking_matches_btyd(summary: pd.DataFrame, lines: pl.DataFrame) -> None:
    origin = datetime(1997, 1, 1)
    days = (lines.select(pl.col("customer_id"),
                         (pl.col("date").str.to_date("%Y%m%d") - origin.date()).dt.total_days()
                         .alias("day")).unique())
    first = days.group_by("customer_id").agg(pl.col("day").min().alias("first"))
    repeats = days.join(first, on="customer_id").filter(pl.col("day") > pl.col("first"))
    model = BGNBD().set_params(**BTYD_BGNBD)
    weeks = np.arange(20.0, 26.0)
    track = cumulative_tracking(model, first["first"].to_numpy() / 7,
                                repeats["day"].to_numpy() / 7, weeks).to_pydict()
    # BTYD walkthrough, cumulative repeat transactions at the end of weeks 20..25.
    assert track["actual"] == [1359, 1414, 1484, 1517, 1573, 1672]
    np.testing.assert_allclose(track["expected"],
                               [1312.5, 1387.3, 1460.4, 1531.7, 1601.4, 1669.6], atol=0.06)
    # Over the whole 78 weeks the cumulative forecast stays close to the actual count:
    # 4,165.6 expected vs 4,339 actual (-4.0 %); we assert within 5 %.
    end = cumulative_tracking(model, first["first"].to_numpy() / 7,
                              repeats["day"].to_numpy() / 7, [78.0]).to_pydict()
    assert end["actual"] == [2457 + 1882]
    assert abs(end["expected"][0] / end["actual"][0] - 1) < 0.05


# -- Gamma-Gamma and CLV ------------------------------------------------------------------
def test_gamma_gamma_reproduces_the_published_fit(cdnow: Path, summary: pd.DataFrame) -> None:
    model = GammaGamma().fit(summary["frequency"], summary["monetary_value"])
    for name, value in PUBLISHED_GG.items():
        assert model.params_[name] == pytest.approx(value, rel=0.01)
    assert model.n_customers_ == 946
    shipped = pd.read_csv(cdnow / "cdnow_customers_summary_with_transactions.csv")
    on_file = GammaGamma().fit(shipped["x"], shipped["zbar"])
    assert rel(list(on_file.params_.values()), list(model.params_.values())) < 2e-3
    # lifetimes' docs: "Expected conditional average profit: 35.2530" over all customers.
    spend = on_file.expected_spend(shipped["x"], shipped["zbar"])
    assert spend.mean() == pytest.approx(35.2530, abs=1e-3)


def test_gamma_gamma_and_clv_agree_with_lifetimes(summary: pd.DataFrame, fitted: BGNBD,
                                                  lifetimes_bg: BetaGeoFitter) -> None:
    x, m = summary["frequency"], summary["monetary_value"]
    repeat = x > 0
    ours = GammaGamma().fit(x, m)
    theirs = GammaGammaFitter().fit(x[repeat], m[repeat])
    assert rel(list(ours.params_.values()), [theirs.params_[k] for k in ("p", "q", "v")]) < 1e-5
    assert rel(ours.expected_spend(x, m), theirs.conditional_expected_average_profit(x, m)) < 1e-5
    clv = ours.clv(fitted, x, summary["recency"], summary["T"], m, horizon_periods=12,
                   discount_rate_per_period=0.01, period_length=4.345)
    their_clv = theirs.customer_lifetime_value(lifetimes_bg, x, summary["recency"], summary["T"],
                                               m, time=12, discount_rate=0.01, freq="W")
    assert rel(clv, their_clv.to_numpy()) < 1e-4
    penalised = GammaGamma(penalizer=0.1).fit(x, m).params_
    their_pen = GammaGammaFitter(penalizer_coef=0.1).fit(x[repeat], m[repeat]).params_
    assert rel(list(penalised.values()), [their_pen[k] for k in ("p", "q", "v")]) < 1e-4


def test_clv_invariants(summary: pd.DataFrame, fitted: BGNBD) -> None:
    gg = GammaGamma().set_params(**PUBLISHED_GG)
    x, t_x, age, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T",
                                                       "monetary_value"))
    plain = gg.clv(fitted, x, t_x, age, m, horizon_periods=52)
    assert plain == pytest.approx(fitted.expected_purchases(52.0, x, t_x, age)
                                  * gg.expected_spend(x, m), rel=1e-10)
    discounted = gg.clv(fitted, x, t_x, age, m, horizon_periods=52,
                        discount_rate_per_period=0.002)
    assert np.all(discounted < plain) and np.all(discounted > 0)
    assert np.all(gg.clv(fitted, x, t_x, age, m, horizon_periods=0) == 0)
    # A new-looking customer (x = 0) is valued at the population mean spend.
    assert gg.expected_spend(0, 0.0) == pytest.approx(6.25 * 15.44 / 2.74)


def test_gamma_gamma_errors() -> None:
    with pytest.raises(NotFittedError):
        GammaGamma().expected_spend(1, 10.0)
    with pytest.raises(ValidationError) as info:
        GammaGamma().fit([0, 0], [0.0, 0.0])
    assert info.value.field == "frequency"
    with pytest.raises(ValidationError) as info:
        GammaGamma().fit([1, 2], [10.0, -3.0])
    assert info.value.field == "monetary_value"
    with pytest.raises(ValidationError) as info:
        GammaGamma().set_params(**PUBLISHED_GG).clv(
            BGNBD().set_params(**BTYD_BGNBD), 1, 1.0, 2.0, 10.0, horizon_periods=-1)
    assert info.value.field == "horizon_periods"
