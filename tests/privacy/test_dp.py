"""Differentially private reports: noise of the stated scale, a budget that runs out (issue 19)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from aidmp import DMP
from aidmp.errors import ValidationError


@pytest.fixture()
def store(tmp_path) -> DMP:  # type: ignore[no-untyped-def]
    dmp = DMP(home=tmp_path / "home", privacy={"dp_budget": 60.0})
    dmp.engine.write_table("profiles", pa.table({
        "profile_id": [f"p{i}" for i in range(400)], "age": [float(i % 80) for i in range(400)]}))
    dmp.segments.create("young", "age < 30")
    dmp.segments.create("old", "age >= 60")
    dmp.segments.refresh()
    return dmp


def test_noise_has_the_laplace_scale_and_the_budget_is_tracked(store: DMP) -> None:
    dp = store.privacy.dp
    exact = store.segments.size("young")["size"]
    assert exact == 150
    draws = np.array([dp.segment_sizes(["young"], epsilon=1.0)["sizes"]["young"]
                      for _ in range(50)])
    # Laplace(scale 1): mean absolute deviation 1; 50 draws average well inside (0.4, 2)
    assert 0.4 < np.abs(draws - exact).mean() < 2.0
    assert abs(draws.mean() - exact) < 1.0
    assert dp.spent() == pytest.approx(50.0)
    over = dp.overlaps(["young", "old"], epsilon=5.0)
    assert {(r["a"], r["b"]) for r in over["overlaps"]} == {
        ("young", "young"), ("young", "old"), ("old", "old")}
    assert over["noise_scale"] == pytest.approx(3 / 5.0)
    with pytest.raises(ValidationError, match="5 of the budget 60 is left"):
        dp.segment_sizes(["old"], epsilon=6.0)
    assert len(dp.releases()) == 51
