"""A/B/n experiments on any outcome with a multiple-comparison correction, and uplift with
several treatments (issue 18).

3,000 people are assigned deterministically to control, ``a`` and ``b``; sign-ups follow
known rates (control and ``a`` 10 %, ``b`` 10 % under 40 and 30 % from 40 on), so ``b`` must
win against the control, ``a`` must not, the Holm-adjusted p-values must equal statsmodels'
own, and the uplift must name ``b`` as the best arm for the older people.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from statsmodels.stats.multitest import multipletests

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.campaigns.experiments import adjust_pvalues, assign, parse_arms
from aidmp.errors import ValidationError
from tests.cli.test_cli import js

ARMS = {"control": 1.0, "a": 1.0, "b": 1.0}
N = 3000


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DMP, Path]]:
    home = tmp_path_factory.mktemp("abn") / "home"
    dmp = DMP(home=home)
    rng = np.random.default_rng(7)
    ages = rng.integers(18, 70, N)
    dmp.events.ingest([{"type": "identify", "userId": f"u{i}", "messageId": f"id{i}",
                        "timestamp": "2026-01-01T00:00:00Z", "traits": {"age": int(ages[i])}}
                       for i in range(N)], source="crm")
    dmp.build()
    pids = [dmp.identity.profile_of("user_id", f"u{i}") for i in range(N)]
    arm = assign("signup-test", pids, ARMS)
    rate = np.where(np.array(arm) == "b", np.where(ages >= 40, 0.30, 0.10), 0.10)
    signed = rng.random(N) < rate
    dmp.events.ingest([{"type": "track", "event": "Signed Up", "userId": f"u{i}",
                        "messageId": f"s{i}_{k}", "timestamp": "2026-02-01T00:00:00Z",
                        "properties": {"plan_value": 12.0}}
                       for i in np.flatnonzero(signed) for k in range(1 + i % 2)],
                      source="web")
    dmp.build()
    yield dmp, home
    dmp.close()


def test_abn_on_sign_ups_with_holm(shop: tuple[DMP, Path]) -> None:
    dmp, _ = shop
    res = dmp.campaigns.experiment("signup-test", arms=ARMS, event="Signed Up",
                                   value_property="plan_value")
    assert res["control"] == "control" and res["correction"] == "holm"
    assert sum(res["sizes"].values()) == N
    a, b = res["comparisons"]["a"], res["comparisons"]["b"]
    assert b["conversion"]["significant"] and not a["conversion"]["significant"]
    raw = [a["conversion"]["p_value"], b["conversion"]["p_value"]]
    expected = multipletests(raw, method="holm")[1]
    assert [a["conversion"]["p_adjusted"], b["conversion"]["p_adjusted"]] == pytest.approx(
        list(expected))
    assert b["conversion"]["rate_b"] > a["conversion"]["rate_b"] + 0.04
    # the count (sign-ups per person) and the value (12 per sign-up) follow the same people
    assert b["count"]["mean_b"] > b["count"]["mean_a"] and b["count"]["significant"]
    assert b["revenue"]["mean_b"] == pytest.approx(12.0 * b["count"]["mean_b"])
    bonf = dmp.campaigns.experiment("signup-test", arms=ARMS, event="Signed Up",
                                    correction="bonferroni")
    assert bonf["comparisons"]["a"]["conversion"]["p_adjusted"] == pytest.approx(
        min(1.0, 2 * a["conversion"]["p_value"]))


def test_uplift_names_the_best_arm_per_person(shop: tuple[DMP, Path]) -> None:
    dmp, _ = shop
    res = dmp.campaigns.uplift("signup-test", ["age"], arms=ARMS, event="Signed Up", top=50,
                               folds=2)
    assert set(res["treatments"]) == {"a", "b"}
    # observed uplift of b in its highest predicted decile is well above a's
    assert res["treatments"]["b"]["deciles"][0]["observed_uplift"] > 0.1
    assert res["best_arm_share"]["b"] > 0.4
    top = res["top"]
    assert [r["best_arm"] for r in top].count("b") >= 45
    ages = dmp.engine.execute(dmp.engine.table("profiles").select("profile_id", "age")
                              ).to_pylist()
    age_of = {r["profile_id"]: r["age"] for r in ages}
    assert np.mean([age_of[r["profile_id"]] >= 40 for r in top]) > 0.9


def test_cli_and_rest(shop: tuple[DMP, Path]) -> None:
    dmp, home = shop
    with TestClient(create_app(dmp)) as client:
        key = dmp.keys.create("admin").secret
        got = client.get("/v1/campaigns/experiments/signup-test",
                         params={"arms": "control,a,b", "event": "Signed Up",
                                 "correction": "bonferroni"},
                         headers={"Authorization": f"Bearer {key}"})
        assert got.status_code == 200, got.text
        assert got.json()["comparisons"]["b"]["conversion"]["significant"] is True
        bad = client.get("/v1/campaigns/experiments/signup-test", params={"arms": "control"},
                         headers={"Authorization": f"Bearer {key}"})
        assert bad.status_code == 400 and "arms" in bad.text
    dmp.close()
    out = js(home, "campaigns", "experiment", "signup-test", "--arms", "control,a,b",
             "--event", "Signed Up")
    assert out["comparisons"]["b"]["conversion"]["significant"] is True
    assert out["event"] == "Signed Up"


def test_helpers() -> None:
    assert parse_arms("control=2, a, b") == {"control": 2.0, "a": 1.0, "b": 1.0}
    assert parse_arms(None, 0.1) == {"holdout": 0.1, "exposed": 0.9}
    with pytest.raises(ValidationError):
        parse_arms("control=x,a")
    assert adjust_pvalues([0.01, float("nan")], "bonferroni")[0] == pytest.approx(0.01)
    with pytest.raises(ValidationError):
        adjust_pvalues([0.1], "sidak")  # type: ignore[arg-type]
