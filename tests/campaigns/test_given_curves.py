"""The budget optimiser on response curves and spend/return tables the user supplies
(issue 18): Python, CLI file and REST body, checked against the analytic optimum."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.campaigns.optimiser.given import table_curve
from aidmp.campaigns.optimiser.service import optimise_budget
from aidmp.errors import ValidationError
from tests.cli.test_cli import js

# return = a (1 - exp(-spend / b)): marginal a/b exp(-x/b); equal marginals with x1 + x2 = 600
# give x2 = (600 + 500 ln 2) / 3.5 and x1 = 600 - x2 (search 329.6, display 270.4)
CURVES = [{"channel": "search", "model": "exp", "params": [1000.0, 500.0]},
          {"channel": "display", "model": "exp", "params": [800.0, 200.0]}]
X2 = (600 + 500 * math.log(2)) / 3.5


def test_user_curves_reach_the_analytic_optimum() -> None:
    out = optimise_budget(lambda: pytest.fail("history is not read"), total=600.0,
                          curves=CURVES, breakpoints=400, spend_all=True)
    spend = {c["unit"]: c["spend"] for c in out["channels"]}
    assert spend["display"] == pytest.approx(X2, abs=4.0)
    assert spend["search"] == pytest.approx(600 - X2, abs=4.0)
    expected = 1000 * (1 - math.exp(-(600 - X2) / 500)) + 800 * (1 - math.exp(-X2 / 200))
    assert out["expected_return"] == pytest.approx(expected, rel=1e-3)
    assert out["curves_from"] == "user"


def test_spend_return_tables() -> None:
    tv = table_curve("tv", [(100, 300), (200, 450), (300, 480)])
    assert tv.spend == (0.0, 100.0, 200.0, 300.0) and not tv.envelope_used
    bumpy = table_curve("radio", [(100, 100), (200, 400), (300, 450)])  # not concave
    assert bumpy.envelope_used and bumpy.spend == (0.0, 200.0, 300.0)
    # 250 to split: tv's first 100 return 3 per unit, its next 100 1.5; radio's envelope 2
    # up to 200: tv 100, radio 150 (2 > 1.5), nothing else pays as much
    out = optimise_budget(lambda: pytest.fail("not read"), total=250.0, spend_all=True,
                          curves=[{"channel": "tv", "points": [[100, 300], [200, 450],
                                                               [300, 480]]},
                                  {"channel": "radio", "points": [[100, 100], [200, 400],
                                                                  [300, 450]]}])
    spend = {c["unit"]: round(c["spend"], 6) for c in out["channels"]}
    assert spend == {"tv": 100.0, "radio": 150.0}
    assert out["expected_return"] == pytest.approx(300 + 300)
    with pytest.raises(ValidationError) as err:
        optimise_budget(lambda: None, total=1.0, curves=[{"channel": "x", "model": "log",
                                                          "params": [1.0, 2.0]}])
    assert err.value.field == "up_to"


def test_cli_file_and_rest_body(tmp_path: Path, dmp: DMP) -> None:
    table = tmp_path / "returns.csv"
    table.write_text("channel,spend,return\ntv,100,300\ntv,200,450\ntv,300,480\n"
                     "radio,100,100\nradio,200,400\nradio,300,450\n")
    home = tmp_path / "cli"  # the dmp fixture holds tmp_path / "home"
    out = js(home, "campaigns", "optimise", "--curves", str(table), "--total", "250",
             "--spend-all")
    assert {c["unit"]: round(c["spend"], 6) for c in out["channels"]} == {"tv": 100.0,
                                                                         "radio": 150.0}
    spec = tmp_path / "curves.json"
    spec.write_text(json.dumps(CURVES))
    again = js(home, "campaigns", "optimise", "--curves", str(spec), "--total", "600",
               "--breakpoints", "400", "--spend-all")
    assert {c["unit"] for c in again["channels"]} == {"search", "display"}
    with TestClient(create_app(dmp)) as client:
        key = dmp.keys.create("admin").secret
        auth = {"Authorization": f"Bearer {key}"}
        got = client.post("/v1/campaigns/optimise?wait=true", headers=auth,
                          json={"total": 600, "breakpoints": 400, "spend_all": True,
                                "curves": CURVES})
        assert got.status_code == 200, got.text
        spend = {c["unit"]: c["spend"] for c in got.json()["channels"]}
        assert spend["display"] == pytest.approx(X2, abs=4.0)
        bad = client.post("/v1/campaigns/optimise?wait=true", headers=auth,
                          json={"total": 10, "curves": [{"channel": "x", "model": "cubic"}]})
        assert bad.status_code in (400, 422) and "model" in bad.text
