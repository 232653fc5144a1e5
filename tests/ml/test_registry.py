"""The model registry: versions, artefacts on disk, rows in ``models``, archive and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aidmp import DMP
from aidmp.errors import NotFoundError, ValidationError
from aidmp.ml.clv import BGNBD
from aidmp.ml.registry import ModelRegistry, json_ready


@pytest.fixture()
def registry(dmp: DMP) -> ModelRegistry:
    return ModelRegistry(dmp.engine, dmp.home / "models")


def test_versions_count_up_per_name_and_artefacts_round_trip(registry: ModelRegistry,
                                                             dmp: DMP) -> None:
    fitted = BGNBD().set_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert registry.register("clv", fitted, "clv", params={"r": 0.243},
                             metrics={"ll": -9582.4}, data_window={"rows": 2357}) == 1
    assert registry.register("clv", fitted, "clv") == 2
    assert registry.register("rules", {"k": 1}, "rules") == 1
    assert [(r["name"], r["version"]) for r in registry.list()] == [
        ("clv", 1), ("clv", 2), ("rules", 1)]

    row = registry.show("clv", 1)
    assert row["params"] == {"r": 0.243} and row["metrics"] == {"ll": -9582.4}
    assert row["data_window"] == {"rows": 2357} and row["status"] == "active"
    assert Path(row["artifact"]) == dmp.home / "models" / "clv" / "v1.joblib"
    assert Path(row["artifact"]).exists()

    loaded = registry.load("clv")
    assert isinstance(loaded, BGNBD) and loaded.params_ == fitted.params_
    p = loaded.p_alive([2.0], [30.0], [38.0])
    assert p == pytest.approx(fitted.p_alive([2.0], [30.0], [38.0]))
    # The models table holds the same row the registry shows.
    t = dmp.engine.table("models")
    stored = dmp.engine.execute(t.filter(t.name == "clv").order_by("version")).to_pylist()
    assert [r["version"] for r in stored] == [1, 2]
    assert json.loads(stored[0]["metrics"]) == {"ll": -9582.4}


def test_archive_rolls_back_to_previous_active_version(registry: ModelRegistry) -> None:
    for weight in (1.0, 2.0, 3.0):
        registry.register("m", {"w": weight}, "dict")
    assert registry.archive("m")["version"] == 3
    assert registry.show("m")["version"] == 2 and registry.load("m") == {"w": 2.0}
    assert registry.show("m", 3)["status"] == "archived"
    assert registry.load("m", 3) == {"w": 3.0}  # archived versions stay loadable by number
    registry.archive("m", 1)
    registry.archive("m", 2)
    with pytest.raises(NotFoundError, match="no active version"):
        registry.show("m")
    # The next version still counts on from the highest ever registered.
    assert registry.register("m", {"w": 4.0}, "dict") == 4


def test_unknown_names_and_versions_say_what_exists(registry: ModelRegistry) -> None:
    registry.register("clv", {"x": 1}, "clv")
    with pytest.raises(NotFoundError, match="registered models: clv"):
        registry.show("churn")
    with pytest.raises(NotFoundError, match="versions: 1"):
        registry.show("clv", 7)
    for bad in ("../etc", "Clv", "", "1clv", "a b"):
        with pytest.raises(ValidationError) as err:
            registry.register(bad, {}, "x")
        assert err.value.field == "name"


def test_closures_are_saved_by_value(registry: ModelRegistry) -> None:
    scale = 3.0
    registry.register("fn", {"f": lambda v: v * scale}, "callable")
    assert registry.load("fn")["f"](2.0) == 6.0


def test_json_ready_makes_strict_json() -> None:
    value = {"a": np.float64(1.5), "b": np.arange(3), "c": float("inf"), "d": (np.int64(2),),
             "e": float("nan")}
    assert json_ready(value) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [2], "e": None}
    json.dumps(json_ready(value), allow_nan=False)
