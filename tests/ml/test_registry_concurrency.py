"""Model registry: two fits at once keep both versions; library versions are checked on load."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from aidmp import DMP
from aidmp.errors import ValidationError
from aidmp.ml.registry import library_versions
from aidmp.spec.imports import ImportMapping

CDNOW = Path(__file__).parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"


def test_two_fits_at_once_register_two_versions(tmp_path: Path) -> None:
    rows = [ln.split() for ln in CDNOW.read_text().splitlines() if ln.strip()]
    with DMP(home=tmp_path) as dmp:
        dmp.imports.frame(pl.DataFrame({
            "customer_id": [r[0] for r in rows], "date": [r[2] for r in rows],
            "revenue": [float(r[4]) for r in rows]}), ImportMapping(
            source="cdnow", event="Order Completed", user_id_column="customer_id",
            timestamp_column="date", timestamp_format="%Y%m%d"))
        dmp.build()
        fitted: list[dict[str, Any]] = []
        errors: list[BaseException] = []

        def fit() -> None:
            try:
                fitted.append(dmp.models.fit("clv"))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=fit) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        assert sorted(r["version"] for r in fitted) == [1, 2]
        stored = dmp.engine.execute(dmp.engine.table("models")).to_pylist()
        assert sorted((r["name"], r["version"]) for r in stored) == [("clv", 1), ("clv", 2)]
        # both artefacts load, each with the library versions it was saved with
        for r in stored:
            saved = json.loads(Path(r["artifact"]).with_suffix(".versions.json").read_text())
            assert saved["scikit-learn"] == library_versions()["scikit-learn"]
        # a model saved by another scikit-learn release is refused with what to do
        versions = Path(stored[0]["artifact"]).with_suffix(".versions.json")
        versions.write_text(json.dumps({**library_versions(), "scikit-learn": "0.24.2"}))
        with pytest.raises(ValidationError) as err:
            dmp.models.registry.load("clv", stored[0]["version"])
        assert "scikit-learn 0.24.2" in str(err.value) and "refit" in str(err.value)
