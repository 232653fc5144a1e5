"""Normalisers on ugly real-world inputs, with exact expected outputs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest

from aidmp.errors import ValidationError
from aidmp.quality import (
    Invalid,
    Money,
    country_column,
    currency_column,
    email_column,
    normalize_column,
    normalize_country,
    normalize_currency_amount,
    normalize_email,
    normalize_phone,
    normalize_timestamp,
    phone_column,
    timestamp_column,
)


def outcome(result: object) -> object:
    """The value, or ``("invalid", reason)``: one shape to compare against."""
    return ("invalid", result.reason) if isinstance(result, Invalid) else result


def bad(reason: str) -> tuple[str, str]:
    return ("invalid", reason)


# --- e-mail -----------------------------------------------------------------------------------
EMAILS = [
    ("jane@example.com", "jane@example.com"),
    ("  Jane.Doe@Example.COM\t", "jane.doe@example.com"),
    ("JANE+newsletter@GMAIL.com", "jane+newsletter@gmail.com"),
    ("mailto:bob@example.org", "bob@example.org"),
    ("MAILTO:bob@example.org?subject=Hi%20there", "bob@example.org"),
    ("Bob Smith <Bob@Example.org>", "bob@example.org"),
    ('"Smith, Bob" <bob@example.org> ', "bob@example.org"),
    ("user@mail.example.co.uk", "user@mail.example.co.uk"),
    ("o'connor@example.ie", "o'connor@example.ie"),
    ("first_last-1@sub-domain.example.com", "first_last-1@sub-domain.example.com"),
    ("user@bücher.de", "user@xn--bcher-kva.de"),
    ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
    ("x@a.museum", "x@a.museum"),
    ("", bad("missing")),
    ("   ", bad("missing")),
    ("null", bad("missing")),
    ("NULL", bad("missing")),
    ("N/A", bad("missing")),
    ("none", bad("missing")),
    ("-", bad("missing")),
    ("mailto:", bad("missing")),
    (None, bad("missing")),
    (float("nan"), bad("missing")),
    (12345, bad("not text")),
    ("jane.example.com", bad("missing @")),
    ("jane(at)example.com", bad("missing @")),
    ("jane@@example.com", bad("more than one @")),
    ("jane@example@com", bad("more than one @")),
    ("@example.com", bad("empty local part")),
    ("jane@", bad("empty domain")),
    ("jane..doe@example.com", bad("consecutive dots")),
    ("jane@example..com", bad("consecutive dots")),
    (".jane@example.com", bad("local part starts or ends with a dot")),
    ("jane.@example.com", bad("local part starts or ends with a dot")),
    ("jane@.example.com", bad("domain starts or ends with a dot")),
    ("jane@example.com.", bad("domain starts or ends with a dot")),
    ("jane@localhost", bad("domain has no dot")),
    ("john.doe@gmail,com", bad("domain has no dot")),
    ("jane doe@example.com", bad("contains whitespace")),
    ("jane@exa mple.com", bad("contains whitespace")),
    ("jane@example.c", bad("invalid domain")),
    ("jane@example.c0m", bad("invalid domain")),
    ("jane@-example.com", bad("invalid domain")),
    ("jane@example-.com", bad("invalid domain")),
    ("jane@exam_ple.com", bad("invalid domain")),
    ("jane@192.168.0.1", bad("invalid domain")),
    ('"jane"@example.com', bad("invalid character in local part")),
    ("ja(ne)@example.com", bad("invalid character in local part")),
    ("josé@example.com", bad("non-ASCII local part")),
    ("a" * 65 + "@example.com", bad("too long")),
]


@pytest.mark.parametrize(("raw", "expected"), EMAILS)
def test_normalize_email(raw: object, expected: object) -> None:
    assert outcome(normalize_email(raw)) == expected


def test_email_column_agrees_with_scalar_on_every_case() -> None:
    raws = [r for r, _ in EMAILS if r is None or isinstance(r, str)]
    values, reasons = email_column(pl.Series("email", raws, dtype=pl.String))
    assert values.name == "email"
    for raw, value, reason in zip(raws, values.to_list(), reasons.to_list(), strict=True):
        expected = outcome(normalize_email(raw))
        assert (bad(reason) if reason else value) == expected, raw


def test_email_column_on_arrow_returns_arrow() -> None:
    values, reasons = email_column(pa.array(["A@B.ORG", None, "x"]))
    assert isinstance(values, pa.Array)
    assert values.to_pylist() == ["a@b.org", None, None]
    assert reasons.to_pylist() == [None, "missing", "missing @"]


# --- phone ------------------------------------------------------------------------------------
PHONES = [
    ("(415) 555-2671", "US", "+14155552671"),
    ("415.555.2671", "US", "+14155552671"),
    ("415-555-2671", "US", "+14155552671"),
    ("1-415-555-2671", "US", "+14155552671"),
    ("+1 (415) 555-2671", "US", "+14155552671"),
    ("tel:+1-415-555-2671", "US", "+14155552671"),
    ("  +1 415 555 2671 ext. 204 ", "US", "+14155552671"),
    ("+14155552671x99", "US", "+14155552671"),
    (4155552671, "US", "+14155552671"),
    (4155552671.0, "US", "+14155552671"),
    ("4155552671.0", "US", "+14155552671"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("07911 123456", "GB", "+447911123456"),
    ("+44 (0)7911 123456", "US", "+447911123456"),
    ("030 1234567", "DE", "+49301234567"),
    ("0049 30 1234567", "DE", "+49301234567"),
    ("+49 (0)30 1234567", "FR", "+49301234567"),
    ("01 42 68 53 00", "FR", "+33142685300"),
    ("+33 1 42 68 53 00", "de", "+33142685300"),
    ("555-0100", "US", bad("too short")),
    ("12", "US", bad("too short")),
    ("+1 415 555 267", "US", bad("too short")),
    ("001 415 555 2671", "US", bad("too long")),
    ("+999 123 456 789", "US", bad("invalid country code")),
    ("(555) 555-5555", "US", bad("invalid number")),
    ("030 1234567", "US", bad("invalid number")),
    ("abc", "US", bad("not a phone number")),
    ("call me", "US", bad("not a phone number")),
    ("", "US", bad("missing")),
    ("n/a", "US", bad("missing")),
    (None, "US", bad("missing")),
    (True, "US", bad("not a phone number")),
    (415.5, "US", bad("not a phone number")),
]


@pytest.mark.parametrize(("raw", "region", "expected"), PHONES)
def test_normalize_phone(raw: object, region: str, expected: object) -> None:
    assert outcome(normalize_phone(raw, region=region)) == expected


def test_phone_column_maps_distinct_values_back_in_order() -> None:
    raws = ["(415) 555-2671", None, "12", "(415) 555-2671", "415.555.2671"]
    values, reasons = phone_column(pl.Series(raws))
    assert values.to_list() == ["+14155552671", None, None, "+14155552671", "+14155552671"]
    assert reasons.to_list() == [None, "missing", "too short", None, None]
    ints, _ = phone_column(pl.Series([4155552671, None]))
    assert ints.to_list() == ["+14155552671", None]


# --- timestamps -------------------------------------------------------------------------------
T = "2024-03-05T14:30:00Z"
TIMESTAMPS = [
    ("2024-03-05T14:30:00Z", {}, T),
    ("2024-03-05T14:30:00.123456Z", {}, "2024-03-05T14:30:00.123456Z"),
    ("2024-03-05 14:30:00", {}, T),
    ("2024-03-05T15:30:00+01:00", {}, T),
    ("2024-03-05T09:30:00-0500", {}, T),
    ("2024-03-05 06:30:00 PST", {}, T),
    ("2024-03-05 09:30 EST", {}, T),
    ("2024-03-05 14:30 GMT", {}, T),
    ("Tue, 05 Mar 2024 15:30:00 +0100", {}, T),
    ("March 5, 2024 2:30 PM", {}, T),
    ("5 March 2024 14:30", {}, T),
    ("Mar 5 2024 14:30:00", {}, T),
    ("03/05/2024 14:30", {}, T),
    ("05/03/2024 14:30", {"dayfirst": True}, T),
    ("05.03.2024 14:30", {"dayfirst": True}, T),
    ("3/5/24 2:30pm", {}, T),
    ("2024/03/05 14:30", {}, T),
    ("  2024-03-05   14:30  ", {}, T),
    ("2024-03-05", {}, "2024-03-05T00:00:00Z"),
    ("20240305", {}, "2024-03-05T00:00:00Z"),
    ("20240305143000", {}, T),
    ("2024-03-05 15:30", {"assume_tz": "Europe/Berlin"}, T),
    ("2024-07-05 16:30", {"assume_tz": "Europe/Berlin"}, "2024-07-05T14:30:00Z"),
    (1709649000, {}, T),
    (1709649000.0, {}, T),
    ("1709649000", {}, T),
    (1709649000123, {}, "2024-03-05T14:30:00.123000Z"),
    ("1709649000123", {}, "2024-03-05T14:30:00.123000Z"),
    (1709649000123456, {}, "2024-03-05T14:30:00.123456Z"),
    (1709649000123456789, {}, "2024-03-05T14:30:00.123457Z"),
    (datetime(2024, 3, 5, 14, 30), {}, T),
    (datetime(2024, 3, 5, 15, 30, tzinfo=timezone(timedelta(hours=1))), {}, T),
    (date(2024, 3, 5), {}, "2024-03-05T00:00:00Z"),
    ("", {}, bad("missing")),
    ("NULL", {}, bad("missing")),
    (None, {}, bad("missing")),
    ("0000-00-00 00:00:00", {}, bad("missing")),
    ("0000-00-00", {}, bad("missing")),
    ("March 2024", {}, bad("incomplete date")),
    ("14:30", {}, bad("incomplete date")),
    ("2024-02-30", {}, bad("not a timestamp")),
    ("2024-13-01", {}, bad("not a timestamp")),
    ("yesterday", {}, bad("not a timestamp")),
    ("2024-03-05 14:30 XYZT", {}, bad("unknown time zone")),
    ("1850-01-01", {}, bad("out of range")),
    ("2150-01-01", {}, bad("out of range")),
    (1e30, {}, bad("out of range")),
    (float("inf"), {}, bad("not a timestamp")),
    (True, {}, bad("not a timestamp")),
    ([2024, 3, 5], {}, bad("not text")),
]


@pytest.mark.parametrize(("raw", "options", "expected"), TIMESTAMPS)
def test_normalize_timestamp(raw: object, options: dict[str, object], expected: object) -> None:
    assert outcome(normalize_timestamp(raw, **options)) == expected  # type: ignore[arg-type]


def test_unknown_assume_tz_is_a_setting_error() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        normalize_timestamp("2024-03-05", assume_tz="Mars/Base")


def test_timestamp_column_text_numbers_and_temporal() -> None:
    at = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    text, reasons = timestamp_column(pl.Series(["2024-03-05T15:30:00+01:00", "nope", None]))
    assert text.dtype == pl.Datetime("us", "UTC")
    assert text.to_list() == [at, None, None]
    assert reasons.to_list() == [None, "not a timestamp", "missing"]
    epochs, reasons = timestamp_column(pl.Series([1709649000.0, 1709649000123.0, None, 1e30]))
    assert epochs.to_list() == [at, at + timedelta(milliseconds=123), None, None]
    assert reasons.to_list() == [None, None, "missing", "out of range"]
    naive = pl.Series([datetime(2024, 3, 5, 15, 30)])
    berlin, _ = timestamp_column(naive, assume_tz="Europe/Berlin")
    assert berlin.to_list() == [at]
    days, _ = timestamp_column(pa.array([date(1850, 1, 1), date(2024, 3, 5)]))
    assert days.to_pylist() == [None, datetime(2024, 3, 5, tzinfo=UTC)]


def test_timestamp_column_agrees_with_scalar() -> None:
    raws = [r for r, o, _ in TIMESTAMPS if isinstance(r, str) and not o]
    values, reasons = timestamp_column(pl.Series(raws))
    for raw, value, reason in zip(raws, values.to_list(), reasons.to_list(), strict=True):
        expected = outcome(normalize_timestamp(raw))
        got = bad(reason) if reason else value.isoformat().replace("+00:00", "Z")
        assert got == expected, raw


# --- countries --------------------------------------------------------------------------------
COUNTRIES = [
    ("DE", "DE"), ("de", "DE"), (" de ", "DE"), ("DEU", "DE"), ("Germany", "DE"),
    ("GERMANY", "DE"), ("Deutschland", "DE"), ("UK", "GB"), ("U.K.", "GB"), ("GB", "GB"),
    ("GBR", "GB"), ("United Kingdom", "GB"), ("Great Britain", "GB"), ("England", "GB"),
    ("Scotland", "GB"), ("USA", "US"), ("U.S.A.", "US"), ("US", "US"), ("us", "US"),
    ("United States", "US"), ("united states of america", "US"), ("America", "US"),
    ("The Netherlands", "NL"), ("Netherlands", "NL"), ("Holland", "NL"), ("NLD", "NL"),
    ("España", "ES"), ("Espana", "ES"), ("Spain", "ES"), ("Italia", "IT"),
    ("Österreich", "AT"), ("Schweiz", "CH"), ("Suisse", "CH"), ("Switzerland", "CH"),
    ("Brasil", "BR"), ("México", "MX"), ("Russia", "RU"), ("Russian Federation", "RU"),
    ("South Korea", "KR"), ("Korea, Republic of", "KR"), ("Republic of Korea", "KR"),
    ("North Korea", "KP"), ("Viet Nam", "VN"), ("Vietnam", "VN"), ("Czech Republic", "CZ"),
    ("Czechia", "CZ"), ("Turkey", "TR"), ("Türkiye", "TR"), ("Ivory Coast", "CI"),
    ("Côte d'Ivoire", "CI"), ("cote d ivoire", "CI"), ("UAE", "AE"),
    ("United Arab Emirates", "AE"), ("Bosnia & Herzegovina", "BA"),
    ("Bosnia and Herzegovina", "BA"), ("St. Lucia", "LC"), ("Saint Lucia", "LC"),
    ("Taiwan", "TW"), ("Iran", "IR"), ("Bolivia", "BO"), ("Hong Kong", "HK"),
    ("North Macedonia", "MK"), ("Macedonia", "MK"), ("Eire", "IE"), ("Ireland", "IE"),
    ("Polska", "PL"), ("japan", "JP"), ("CHN", "CN"), ("India", "IN"),
    ("Atlantis", bad("unknown country")), ("USSR", bad("unknown country")),
    ("XX", bad("unknown country")), ("", bad("missing")), ("n/a", bad("missing")),
    (None, bad("missing")), (49, bad("not text")),
]


@pytest.mark.parametrize(("raw", "expected"), COUNTRIES)
def test_normalize_country(raw: object, expected: object) -> None:
    assert outcome(normalize_country(raw)) == expected


def test_country_column_on_chunked_arrow() -> None:
    values, reasons = country_column(pa.chunked_array([["UK", "Deutschland"], ["Narnia", None]]))
    assert isinstance(values, pa.ChunkedArray)
    assert values.to_pylist() == ["GB", "DE", None, None]
    assert reasons.to_pylist() == [None, None, "unknown country", "missing"]


# --- money ------------------------------------------------------------------------------------
D = Decimal
MONEY = [
    ("€1.234,50", {}, Money(D("1234.50"), "EUR")),
    ("$1,234.50", {}, Money(D("1234.50"), "USD")),
    ("1 234,50 EUR", {}, Money(D("1234.50"), "EUR")),
    ("1\u00a0234,50\u00a0€", {}, Money(D("1234.50"), "EUR")),
    ("1\u202f234,50 €", {}, Money(D("1234.50"), "EUR")),
    ("(12.00)", {}, Money(D("-12.00"), None)),
    ("(12.00)", {"default_currency": "USD"}, Money(D("-12.00"), "USD")),
    ("($1,000.00)", {}, Money(D("-1000.00"), "USD")),
    ("-5 USD", {}, Money(D("-5"), "USD")),
    ("USD -5", {}, Money(D("-5"), "USD")),
    ("12.00-", {}, Money(D("-12.00"), None)),
    ("€-1,50", {}, Money(D("-1.50"), "EUR")),
    ("\u22123.00 €", {}, Money(D("-3.00"), "EUR")),
    ("+7.5 eur", {}, Money(D("7.5"), "EUR")),
    ("1'234.50 CHF", {}, Money(D("1234.50"), "CHF")),
    ("CHF 1'234.50", {}, Money(D("1234.50"), "CHF")),
    ("1,23,456.00 INR", {}, Money(D("123456.00"), "INR")),
    ("₹1,23,456", {}, Money(D("123456"), "INR")),
    ("£3", {}, Money(D("3"), "GBP")),
    ("£ 3.99", {}, Money(D("3.99"), "GBP")),
    ("¥1000", {}, Money(D("1000"), "JPY")),
    ("R$ 10,00", {}, Money(D("10.00"), "BRL")),
    ("US$5", {}, Money(D("5"), "USD")),
    ("C$ 20", {}, Money(D("20"), "CAD")),
    ("10 euros", {}, Money(D("10"), "EUR")),
    ("10 zł", {}, Money(D("10"), "PLN")),
    ("5 Ft", {}, Money(D("5"), "HUF")),
    ("EUR 1.000.000,00", {}, Money(D("1000000.00"), "EUR")),
    ("1.234.567", {}, Money(D("1234567"), None)),
    ("1,234,567.89", {}, Money(D("1234567.89"), None)),
    ("1.234", {}, Money(D("1234"), None)),
    ("1.234", {"decimal": "."}, Money(D("1.234"), None)),
    ("1,234", {"decimal": ","}, Money(D("1.234"), None)),
    ("0.125", {}, Money(D("0.125"), None)),
    ("1,5", {}, Money(D("1.5"), None)),
    ("12,50", {}, Money(D("12.50"), None)),
    (".99", {}, Money(D("0.99"), None)),
    ("42", {"default_currency": "EUR"}, Money(D("42"), "EUR")),
    (12.5, {}, Money(D("12.5"), None)),
    (0.1, {}, Money(D("0.1"), None)),
    (3, {"default_currency": "GBP"}, Money(D("3"), "GBP")),
    (D("9.99"), {}, Money(D("9.99"), None)),
    ("12 EUR 13", {}, bad("more than one number")),
    ("$12 EUR", {}, bad("conflicting currencies")),
    ("£5 USD", {}, bad("conflicting currencies")),
    ("12.5.3", {}, bad("malformed number")),
    ("1.2345,6", {}, bad("malformed number")),
    ("1,2,3", {}, bad("malformed number")),
    ("abc", {}, bad("no digits")),
    ("3 gift", {}, bad("unrecognised text 'gift'")),
    ("12 XYZ", {}, bad("unrecognised text 'xyz'")),
    ("#12", {}, bad("unrecognised text '#'")),
    ("", {}, bad("missing")),
    ("N/A", {}, bad("missing")),
    (None, {}, bad("missing")),
    (float("nan"), {}, bad("missing")),
    (float("inf"), {}, bad("not an amount")),
    (True, {}, bad("not an amount")),
]


@pytest.mark.parametrize(("raw", "options", "expected"), MONEY)
def test_normalize_currency_amount(raw: object, options: dict[str, object],
                                   expected: object) -> None:
    result = normalize_currency_amount(raw, **options)  # type: ignore[arg-type]
    assert outcome(result) == expected
    if isinstance(result, Money):  # exact, including the written scale
        assert isinstance(expected, Money)
        assert str(result.amount) == str(expected.amount)


def test_currency_column_is_an_exact_decimal_struct() -> None:
    values, reasons = currency_column(pl.Series(["€1.234,50", "$3", None, "abc", "€1.234,50"]))
    assert values.dtype == pl.Struct({"amount": pl.Decimal(38, 2), "currency": pl.String})
    assert values.to_list() == [
        {"amount": D("1234.50"), "currency": "EUR"}, {"amount": D("3.00"), "currency": "USD"},
        None, None, {"amount": D("1234.50"), "currency": "EUR"}]
    assert reasons.to_list() == [None, None, "missing", "no digits", None]


def test_normalize_column_by_kind_and_unknown_kind() -> None:
    values, _ = normalize_column(pl.Series(["+1 415 555 2671"]), "phone", region="GB")
    assert values.to_list() == ["+14155552671"]
    with pytest.raises(ValidationError, match="valid kinds: email, phone"):
        normalize_column(pl.Series(["x"]), "zip")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="expected a polars Series or a pyarrow array"):
        email_column(["a@b.com"])  # type: ignore[type-var]


def test_email_column_is_vectorised_and_fast() -> None:
    # 200k addresses in well under a second: the polars path, not a Python loop.
    import time

    series = pl.Series([f"User{i}+Tag@Example{i % 97}.com" for i in range(200_000)])
    start = time.perf_counter()
    values, reasons = email_column(series)
    elapsed = time.perf_counter() - start
    assert values[12345] == "user12345+tag@example26.com"
    assert reasons.null_count() == 200_000
    assert elapsed < 2.0
