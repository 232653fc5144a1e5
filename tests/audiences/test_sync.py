"""Incremental sync on a world built from real identify events: counts, consent, files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from aidmp import DMP
from aidmp.audiences.sync import LOG_TABLE, state_table
from aidmp.errors import NotFoundError, ValidationError
from tests.audiences.conftest import (
    ADS_WITHDRAWN,
    EMAIL_GRANTED,
    EMAIL_WITHDRAWN,
    NO_ID,
    PROS,
    build_world,
    churn,
)


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_csv(path: str) -> list[dict[str, object]]:
    return pacsv.read_csv(path).to_pylist()  # type: ignore[no-any-return]


def test_first_sync_then_one_percent_churn(tmp_path: Path) -> None:
    dmp = build_world(tmp_path / "home")
    aud = dmp.audiences
    aud.add_destination({"type": "file", "name": "drop", "folder": str(tmp_path / "out")})
    aud.add_destination({"type": "meta_custom_audience", "name": "meta",
                         "folder": str(tmp_path / "meta")})
    first = aud.sync("pros", "drop")
    assert (first.first_sync, first.added, first.removed, first.unchanged) == \
        (True, PROS, 0, 0)
    assert (first.skipped_no_consent, first.skipped_no_identifier) == (0, 0)
    (full,) = first.files
    rows = read_csv(full)
    assert full.endswith("-full.csv") and len(rows) == PROS
    assert list(rows[0]) == ["profile_id", "user_id", "email"]
    assert {r["user_id"] for r in rows} == {f"u{i}" for i in range(PROS)}
    meta1 = aud.sync("pros", "meta")
    expected_meta = PROS - len(ADS_WITHDRAWN) - len(NO_ID)
    assert (meta1.added, meta1.skipped_no_consent, meta1.skipped_no_identifier) == \
        (expected_meta, len(ADS_WITHDRAWN), len(NO_ID))

    churn(dmp, leave=range(20, 24), join=range(400, 404))  # 1 % of 400 each way
    second = aud.sync("pros", "drop")
    assert (second.first_sync, second.added, second.removed, second.unchanged) == \
        (False, 4, 4, PROS - 4)
    added, removed = (read_csv(f) for f in sorted(second.files))
    assert sorted(second.files)[0].endswith("-added.csv")
    assert {r["user_id"] for r in added} == {"u400", "u401", "u402", "u403"}
    assert {r["user_id"] for r in removed} == {"u20", "u21", "u22", "u23"}
    meta2 = aud.sync("pros", "meta")
    assert (meta2.added, meta2.removed, meta2.unchanged) == (4, 4, expected_meta - 4)
    third = aud.sync("pros", "drop")
    assert (third.added, third.removed, third.unchanged, third.files) == (0, 0, PROS, [])
    assert [r["added"] for r in aud.history("pros") if r["destination"] == "drop"] == \
        [0, 4, PROS]
    dmp.close()


def test_dry_run_sends_and_stores_nothing(world: DMP, tmp_path: Path) -> None:
    aud = world.audiences
    aud.add_destination({"type": "file", "name": "dry", "folder": str(tmp_path)})
    dry = aud.sync("pros", "dry", dry_run=True)
    assert (dry.dry_run, dry.first_sync, dry.added, dry.stored, dry.files) == \
        (True, True, PROS, False, [])
    assert list(tmp_path.iterdir()) == []
    assert not world.engine.has_table(state_table("dry"))
    real = aud.sync("pros", "dry")
    assert (real.first_sync, real.added, real.stored) == (True, PROS, True)
    assert world.engine.count(state_table("dry")) == PROS
    again = aud.sync("pros", "dry", dry_run=True)
    assert (again.first_sync, again.added, again.unchanged) == (False, 0, PROS)


def test_email_platform_needs_opt_in_and_writes_plain_email(world: DMP, tmp_path: Path) -> None:
    aud = world.audiences
    aud.add_destination({"type": "email_platform", "name": "esp", "folder": str(tmp_path),
                         "min_audience": 50})
    s = aud.sync("pros", "esp")
    assert (s.added, s.skipped_no_consent) == (len(EMAIL_GRANTED), PROS - len(EMAIL_GRANTED))
    rows = read_csv(s.files[0])
    assert list(rows[0]) == ["profile_id", "email", "first_name", "last_name"]
    assert {r["email"] for r in rows} == {f"user{i}@example.com" for i in EMAIL_GRANTED}
    assert rows[0]["last_name"] == "O'Neil"


def test_withdrawn_consent_is_skipped_without_opt_in(world: DMP, tmp_path: Path) -> None:
    aud = world.audiences
    aud.add_destination({"type": "file", "name": "mail_out", "folder": str(tmp_path),
                         "purpose": "email"})
    s = aud.sync("pros", "mail_out", dry_run=True)
    assert (s.added, s.skipped_no_consent) == (PROS - len(EMAIL_WITHDRAWN),
                                               len(EMAIL_WITHDRAWN))


def test_minimum_audience_size_is_refused(world: DMP, tmp_path: Path) -> None:
    aud = world.audiences
    aud.add_destination({"type": "email_platform", "name": "small", "folder": str(tmp_path)})
    with pytest.raises(ValidationError) as err:
        aud.sync("pros", "small")
    msg = str(err.value)
    assert "has 50 eligible profiles" in msg and "minimum audience size of 100" in msg
    assert err.value.field == "min_audience"
    assert not world.engine.has_table(state_table("small"))
    assert list(tmp_path.iterdir()) == []


def test_google_and_meta_files_have_documented_columns_and_hashes(
        world: DMP, tmp_path: Path) -> None:
    aud = world.audiences
    aud.add_destination({"type": "google_customer_match", "name": "gcm",
                         "folder": str(tmp_path / "g")})
    aud.add_destination({"type": "meta_custom_audience", "name": "fb",
                         "folder": str(tmp_path / "m")})
    g = {r["Email"]: r for r in read_csv(aud.sync("pros", "gcm").files[0])}
    row = g[h("user100@example.com")]
    assert list(row) == ["profile_id", "Email", "Phone", "First Name", "Last Name", "Country",
                         "Zip"]
    # u100: "Ann-w" "O'Neil", +1 415 555 1100, US 94103-1234
    assert (row["Phone"], row["First Name"], row["Last Name"]) == \
        (h("+14155551100"), h("annw"), h("oneil"))
    assert (row["Country"], str(row["Zip"])) == ("US", "94103")  # Google: in clear
    m = {r["EMAIL"]: r for r in read_csv(aud.sync("pros", "fb").files[0])}
    mrow = m[h("user100@example.com")]
    assert list(mrow) == ["profile_id", "EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP",
                          "COUNTRY", "MADID"]
    assert (mrow["PHONE"], mrow["FN"], mrow["LN"], mrow["ZIP"], mrow["COUNTRY"]) == \
        (h("14155551100"), h("annw"), h("oneil"), h("94103"), h("us"))
    assert mrow["CT"] is None and mrow["MADID"] is None


def test_parquet_file_destination(world: DMP, tmp_path: Path) -> None:
    aud = world.audiences
    aud.add_destination({"type": "file", "name": "pq", "folder": str(tmp_path),
                         "format": "parquet", "columns": ["email"]})
    s = aud.sync("pros", "pq")
    assert s.files[0].endswith("-full.parquet")
    table = pq.read_table(s.files[0])
    assert table.column_names == ["profile_id", "email"]
    assert (table.num_rows, s.skipped_no_identifier) == (PROS - len(NO_ID), len(NO_ID))
    assert world.engine.count(LOG_TABLE) >= 1


def test_destination_configs_are_strict(world: DMP) -> None:
    aud = world.audiences
    with pytest.raises(ValidationError, match="min_audience"):
        aud.add_destination({"type": "file", "name": "x", "folder": "/tmp",
                             "min_audience": "100"})  # strict: no string -> int
    with pytest.raises(ValidationError, match="colour: Extra inputs"):
        aud.add_destination({"type": "file", "name": "x", "folder": "/tmp", "colour": 1})
    with pytest.raises(ValidationError, match="google_customer_match"):
        aud.add_destination({"type": "tiktok", "name": "x"})
    with pytest.raises(ValidationError, match="url"):
        aud.add_destination({"type": "webhook", "name": "x", "url": "ftp://h"})
    aud.add_destination({"type": "webhook", "name": "hook", "url": "http://127.0.0.1:9/x"})
    with pytest.raises(ValidationError, match="exists"):
        aud.add_destination({"type": "webhook", "name": "hook", "url": "http://127.0.0.1:9/"})
    saved = world.engine.to_arrow("destinations").to_pylist()  # a declared table
    assert "hook" in [r["name"] for r in saved] and aud.destinations.get("hook").purpose is None
    aud.remove_destination("hook")
    with pytest.raises(NotFoundError, match="no destination 'hook'"):
        aud.sync("pros", "hook")
