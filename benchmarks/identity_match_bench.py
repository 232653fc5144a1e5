"""Probabilistic identity on FEBRL 4 (5,000 x 5,000 person records, one true match each).

Compares, on the same data and fields (names, street number, address lines, suburb, postcode,
state, date of birth; not the social-security number):

1. aidmp with its defaults: the two files imported as sources (NDJSON, values as text),
   ``identity resolve``, ``identity match`` with no configuration, ``identity resolve``,
   pairwise precision / recall / F1 from ``identity evaluate``;
2. plain Splink 5.0.0 configured by hand (name, date, edit-distance and exact comparisons,
   seven blocking rules, prior from deterministic rules, u by random sampling, EM on three
   passes), pairs at or above 0.95 and 0.5;
3. recordlinkage's ECM (Fellegi-Sunter by expectation maximisation on binary agreement
   vectors) for reference.

Usage: ``python benchmarks/identity_match_bench.py [--people N]``; prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from aidmp import DMP
from aidmp.demo.febrl import FIELDS, febrl4, person_of
from aidmp.identity.evaluate import evaluate
from aidmp.identity.matching.model import score
from aidmp.spec.imports import ImportMapping


def _subset(people: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    a, b = febrl4()
    if people >= a.height:
        return a, b
    pid = pl.col("rec_id").map_elements(person_of, return_dtype=pl.String)
    a = a.head(people)
    return a, b.filter(pid.is_in(a.select(pid)["rec_id"].to_list()))


def _prf(pairs: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    tp = len(pairs & truth)
    p = tp / len(pairs) if pairs else 0.0
    r = tp / len(truth)
    return {"precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}


def _pair(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x.endswith("org") else (y, x)


def run_aidmp(a: pl.DataFrame, b: pl.DataFrame, truth: set[tuple[str, str]]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp())
    dmp = DMP(home=folder / "home")
    t0 = time.perf_counter()
    for name, frame, col in (("clinic", a, "user_id_column"),
                             ("registry", b, "anonymous_id_column")):
        path = folder / f"{name}.ndjson"
        frame.select("rec_id", *FIELDS).write_ndjson(path)
        dmp.imports.file(path, ImportMapping(source=name, type="identify",
                                             traits=list(FIELDS), **{col: "rec_id"}))
    t_import = time.perf_counter() - t0
    dmp.identity.resolve()
    t_resolve = time.perf_counter() - t0 - t_import
    t1, c1 = time.perf_counter(), time.process_time()
    matcher = dmp.matching
    summary = matcher.match()
    t_match, c_match = time.perf_counter() - t1, time.process_time() - c1
    # pairs recall of the blocking: true pairs among the candidate pairs scored (records are
    # "profile:side"; before the second resolve each profile holds one record id)
    assert matcher.fitted_ is not None
    scored = score(matcher.fitted_)
    stored = dmp.engine.to_polars("identities").select("profile_id", "id_value")
    rec = dict(zip(stored["profile_id"].to_list(), stored["id_value"].to_list(), strict=True))
    cands = {_pair(rec[x.split(":")[0]], rec[y.split(":")[0]])
             for x, y in zip(scored["record_id_l"], scored["record_id_r"], strict=True)}
    dmp.identity.resolve()
    ids = pl.concat([
        a.select(pl.lit("user_id").alias("id_type"), pl.col("rec_id").alias("id_value")),
        b.select(pl.lit("anonymous_id").alias("id_type"), pl.col("rec_id").alias("id_value"))])
    truth_df = ids.with_columns(pl.col("id_value").map_elements(
        person_of, return_dtype=pl.String).alias("person_id"))
    scores = evaluate(dmp.identity, truth_df)
    dmp.close()
    return {"precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"],
            "true_pairs": scores["true_pairs"], "linked": summary.linked,
            "for_review": summary.for_review, "prior": summary.prior,
            "true_prior": len(truth) / (a.height * b.height),
            "compared": summary.compared, "blocking": summary.blocking,
            "pairs_compared": summary.pairs_compared,
            "blocking_recall": round(len(cands & truth) / len(truth), 4),
            "seconds": {"import": round(t_import, 1), "resolve": round(t_resolve, 1),
                        "match": round(t_match, 1), "match_cpu": round(c_match, 1)}}


def _pandas(frame: pl.DataFrame) -> pd.DataFrame:
    return frame.select("rec_id", *FIELDS).to_pandas().astype("object").where(
        lambda d: d.notna(), None)


def run_splink(a: pl.DataFrame, b: pl.DataFrame, truth: set[tuple[str, str]]
               ) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0, c0 = time.perf_counter(), time.process_time()
    settings = SettingsCreator(
        link_type="link_only", unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True,
                                     datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("street_number", [1]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]),
            cl.ExactMatch("state")],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"), block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"), block_on("postcode", "date_of_birth"),
            block_on("postcode", "street_number"), block_on("suburb", "surname"),
            block_on("address_1", "street_number"), block_on("date_of_birth"),
            block_on("address_1"), block_on("suburb", "given_name")],
    )
    db = DuckDBAPI()
    linker = Linker([db.register(_pandas(a)), db.register(_pandas(b))], settings,
                    log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"),
         block_on("surname", "postcode", "street_number")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=42)
    for rule in (block_on("given_name", "surname"), block_on("date_of_birth"),
                 block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"seconds": round(seconds, 1),
                           "cpu_seconds": round(time.process_time() - c0, 1)}
    for th in (0.95, 0.5):
        sel = pred[pred["match_probability"] >= th]
        pairs = {_pair(x, y) for x, y in zip(sel["rec_id_l"], sel["rec_id_r"], strict=True)}
        out[f"at_{th}"] = _prf(pairs, truth)
    return out


def run_ecm(a: pl.DataFrame, b: pl.DataFrame, truth: set[tuple[str, str]]) -> dict[str, Any]:
    import recordlinkage as rl

    t0 = time.perf_counter()
    da, db = (_pandas(f).set_index("rec_id") for f in (a, b))
    index = rl.Index()
    for rule in (["given_name", "surname"], ["surname", "date_of_birth"],
                 ["given_name", "date_of_birth"], ["postcode", "date_of_birth"],
                 ["postcode", "street_number"], ["date_of_birth"]):
        index.block(left_on=rule, right_on=rule)
    pairs = index.index(da, db)
    comp = rl.Compare()
    for col in ("given_name", "surname", "address_1", "address_2", "suburb"):
        comp.string(col, col, method="jarowinkler", threshold=0.85, label=col)
    for col in ("street_number", "postcode", "state", "date_of_birth"):
        comp.exact(col, col, label=col)
    features = comp.compute(pairs, da, db)
    ecm = rl.ECMClassifier(binarize=None)
    links = ecm.fit_predict(features)
    found = {_pair(x, y) for x, y in links}
    return {**_prf(found, truth), "seconds": round(time.perf_counter() - t0, 1),
            "candidates": len(pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=5_000)
    args = parser.parse_args()
    a, b = _subset(args.people)
    truth = {_pair(x, y) for x in a["rec_id"].to_list() for y in
             [f"rec-{person_of(x)}-dup-0"]}
    result = {"records": [a.height, b.height], "aidmp_defaults": run_aidmp(a, b, truth),
              "splink_by_hand": run_splink(a, b, truth), "recordlinkage_ecm": run_ecm(a, b, truth)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
