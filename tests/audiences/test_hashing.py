"""Platform normalisation before SHA-256, against hand-written normalised strings."""

from __future__ import annotations

import hashlib

import pytest

from aidmp.audiences.hashing import (
    country_key,
    email_key,
    hash_field,
    is_hashed,
    madid_key,
    name_key,
    phone_key,
    sha256,
    zip_key,
)


def h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_sha256_matches_the_fips_180_2_vector() -> None:
    # FIPS 180-2, appendix B.1: SHA-256("abc")
    assert sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(("raw", "platform", "normalised"), [
    ("  Jane.Doe@Example.COM ", "meta", "jane.doe@example.com"),
    ("  Jane.Doe@Example.COM ", "google", "jane.doe@example.com"),  # dots kept off Gmail
    ("Jane.Doe+ads@GMail.com", "google", "janedoe+ads@gmail.com"),
    ("j.a.n.e@googlemail.com", "google", "jane@googlemail.com"),
    ("Jane.Doe+ads@GMail.com", "meta", "jane.doe+ads@gmail.com"),  # Meta: no dot removal
])
def test_email_normalisation_and_hash(raw: str, platform: str, normalised: str) -> None:
    key = email_key(raw, platform)  # type: ignore[arg-type]
    assert key == normalised
    assert hash_field(raw, key) == h(normalised)


def test_bad_email_has_no_key() -> None:
    assert email_key("not-an-email", "meta") is None
    assert email_key(None, "google") is None


@pytest.mark.parametrize(("raw", "region", "meta", "google"), [
    ("(415) 555-2671", "US", "14155552671", "+14155552671"),
    ("+44 20 7946 0958", "US", "442079460958", "+442079460958"),
    ("030 901820", "DE", "4930901820", "+4930901820"),
])
def test_phone_meta_digits_google_e164(raw: str, region: str, meta: str, google: str) -> None:
    assert phone_key(raw, "meta", region) == meta
    assert phone_key(raw, "google", region) == google
    assert hash_field(raw, phone_key(raw, "meta", region)) == h(meta)
    assert hash_field(raw, phone_key(raw, "google", region)) == h(google)
    assert phone_key("555-0100", "meta", "US") is None


@pytest.mark.parametrize(("raw", "normalised"), [
    ("  Mary-Jane ", "maryjane"),
    ("O'Neil", "oneil"),
    ("José", "josé"),
    ("Jose\u0301", "josé"),  # decomposed accent is composed first (NFC)
    ("Strauß", "strauß"),
    ("Van der Berg", "vanderberg"),
])
def test_names_are_lowercase_letters_only(raw: str, normalised: str) -> None:
    assert name_key(raw) == normalised
    assert hash_field(raw, name_key(raw)) == h(normalised)
    assert name_key(" .- ") is None


def test_country_zip_and_madid() -> None:
    assert country_key("United States") == "us"
    assert country_key("DEU") == "de"
    assert hash_field("US", country_key("US")) == h("us")
    assert zip_key("94103-1234", "US") == "94103"
    assert zip_key("94103") == "94103"
    assert zip_key("SW1A 1AA", "GB") == "sw1a1aa"
    assert hash_field("94103-1234", zip_key("94103-1234", "US")) == h("94103")
    assert madid_key(" AEBE52E7-03EE-455A-B3C4-E57283966239 ") == \
        "aebe52e7-03ee-455a-b3c4-e57283966239"


def test_already_hashed_values_pass_through() -> None:
    digest = h("jane@example.com")
    assert is_hashed(digest) and is_hashed(digest.upper())
    assert hash_field(digest.upper(), email_key(digest, "meta")) == digest
    assert not is_hashed("abc")
