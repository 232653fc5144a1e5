"""Probabilistic matching on Splink's Spark backend agrees with its DuckDB backend (issue 21).

A FEBRL 4 slice (300 people, two files) is loaded into a DuckDB store and read into the records
Splink compares; the same records and plan are then trained and scored once on Splink's
in-memory DuckDB (the DuckDB store's path) and once on ``SparkAPI`` over a Spark engine's
session (what a Spark store uses). The matches (pairs at probability >= 0.5) must agree with
F1 >= 0.995, with about one match per person (the slice holds one record of each person per
file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from aidmp import DMP
from aidmp.demo.febrl import FIELDS, febrl4, person_of
from aidmp.identity.matching.config import MatchingConfig
from aidmp.identity.matching.model import score, train
from aidmp.spec.imports import ImportMapping
from tests.conformance.conftest import fresh_engine

pytestmark = pytest.mark.spark

PEOPLE = 300
THRESHOLD = 0.5


def _pairs(scored: pd.DataFrame) -> set[tuple[str, str]]:
    hit = scored[scored["match_probability"] >= THRESHOLD]
    return {tuple(sorted((str(a), str(b)))) for a, b in zip(  # type: ignore[misc]
        hit["record_id_l"], hit["record_id_r"], strict=True)}


def _f1(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> float:
    hits = len(found & truth)
    return 2 * hits / (len(found) + len(truth)) if found or truth else 1.0


def test_splink_spark_backend_gives_the_duckdb_matches(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    a, b = febrl4()
    pid = pl.col("rec_id").map_elements(person_of, return_dtype=pl.String)
    a = a.head(PEOPLE)
    b = b.filter(pid.is_in(a.select(pid)["rec_id"].to_list())).sort("rec_id")
    dmp = DMP(home=tmp_path / "home")
    try:
        for name, frame, id_col in (("clinic", a, "user_id_column"),
                                    ("registry", b, "anonymous_id_column")):
            path = tmp_path / f"{name}.ndjson"
            frame.select("rec_id", *FIELDS).write_ndjson(path)
            dmp.imports.file(path, ImportMapping(source=name, type="identify",
                                                 traits=list(FIELDS), **{id_col: "rec_id"}))
        dmp.identity.resolve()
        matcher = dmp.matching_with(MatchingConfig(one_to_one=True)).fit()
        assert matcher.fitted_ is not None
        records, plan, config = matcher.records_, matcher.plan_, matcher.config
        duck = score(matcher.fitted_)
    finally:
        dmp.close()
    with fresh_engine("spark", request, tmp_path) as spark:
        ml = spark.in_engine_ml()
        assert ml is not None
        fitted = train(records, plan, config, db=ml.splink_api)
        on_spark = score(fitted)
    assert len(records) == 2 * PEOPLE
    assert fitted.prior == pytest.approx(matcher.fitted_.prior, rel=0.05)
    duck_pairs, spark_pairs = _pairs(duck), _pairs(on_spark)
    assert 0.95 * PEOPLE <= len(duck_pairs) <= 1.05 * PEOPLE
    assert _f1(spark_pairs, duck_pairs) >= 0.995
