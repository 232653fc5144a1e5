"""Identity resolution on known answers: the demo's ground truth, limits, shared values, unmerge."""

from __future__ import annotations

import pytest

from aidmp import DMP
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.demo.ingest import run_demo
from aidmp.errors import NotFoundError, ValidationError
from aidmp.identity.evaluate import evaluate


def msg(kind: str, ts: str, **fields: object) -> dict[str, object]:
    return {"type": kind, "timestamp": f"2026-01-{ts}T00:00:00Z", **fields}


def profiles(dmp: DMP) -> int:
    t = dmp.engine.table("identities")
    return int(dmp.engine.execute(t.aggregate(n=t.profile_id.nunique())).column("n")[0].as_py())


def test_demo_ground_truth_precision_and_recall(dmp: DMP) -> None:
    run_demo(dmp, people=300, seed=42)
    summary = dmp.identity.resolve()
    scores = evaluate(dmp.identity, DemoGenerator(DemoConfig(people=300, seed=42)).truth())
    assert scores["precision"] >= 0.99
    assert scores["recall_linked"] >= 0.95
    # the misses are devices that never logged in: nothing in the data links them
    assert scores["recall"] < scores["recall_linked"]
    # every demo event carries an identifier (an anonymous id, or the CRM id): all are mapped
    assert summary.events_mapped == dmp.events.count()
    # CRM rows joined web profiles through their (normalised) e-mail
    t = dmp.engine.table("identities")
    crm_web = t.filter(t.sources == "crm,web")
    both = dmp.engine.execute(crm_web.aggregate(n=crm_web.count()))
    assert both.column("n")[0].as_py() > 20


def test_one_shared_value_does_not_collapse_people(dmp: DMP) -> None:
    batch = []
    for i in range(2000):
        # known customers all typing the shop's till e-mail at checkout
        batch.append(msg("identify", "02", userId=f"u{i}", anonymousId=f"a{i}",
                         messageId=f"k{i}", traits={"email": "till@shop.example"}))
    for i in range(600):
        # anonymous visitors on a shared kiosk phone number
        batch.append(msg("identify", "03", anonymousId=f"kiosk{i}", messageId=f"q{i}",
                         traits={"phone": "+1 206 555 0199"}))
    dmp.events.ingest(batch, source="web")
    summary = dmp.identity.resolve()
    assert profiles(dmp) >= 2600
    assert summary.blocked == 2  # the e-mail and the phone, each shared by hundreds
    rows = dmp.identity.identities_of(dmp.identity.profile_of("user_id", "u7"))
    assert {(r["id_type"], r["id_value"]) for r in rows} == {("user_id", "u7"),
                                                             ("anonymous_id", "a7")}
    t = dmp.engine.table("identities")
    hub = dmp.engine.execute(t.filter(t.id_value == "till@shop.example")).to_pylist()[0]
    assert hub["status"] == "blocked" and hub["reason"] == "shared by 4000 identifiers"


def test_two_user_ids_on_one_device_are_split_and_the_device_goes_to_the_first(dmp):
    dmp.events.ingest([
        msg("identify", "01", userId="mum", anonymousId="tablet", messageId="1",
            traits={"email": "mum@x.example"}),
        msg("identify", "05", userId="kid", anonymousId="tablet", messageId="2",
            traits={"email": "kid@x.example"}),
        msg("track", "06", userId="kid", anonymousId="phone-kid", event="Order Completed",
            messageId="3"),
    ], source="web")
    dmp.identity.resolve()
    mum, kid = dmp.identity.profile_of("user_id", "mum"), dmp.identity.profile_of("user_id", "kid")
    assert mum != kid
    assert dmp.identity.profile_of("anonymous_id", "tablet") == mum
    assert dmp.identity.profile_of("email", "kid@x.example") == kid
    assert dmp.identity.profile_of("anonymous_id", "phone-kid") == kid


def test_limits_detach_the_latest_identifiers_with_a_reason(dmp):
    dmp.events.ingest([msg("identify", f"{i + 1:02d}", userId="u1", messageId=f"e{i}",
                           traits={"email": f"addr{i}@x.example"}) for i in range(7)],
                      source="web")
    summary = dmp.identity.resolve()
    assert summary.detached == 2
    rows = {r["id_value"]: r for r in dmp.identity.identities_of(
        dmp.identity.profile_of("user_id", "u1"))}
    assert sorted(k for k in rows if k.startswith("addr")) == [f"addr{i}@x.example"
                                                               for i in range(5)]
    t = dmp.engine.table("identities")
    late = dmp.engine.execute(t.filter(t.id_value == "addr6@x.example")).to_pylist()[0]
    assert late["status"] == "detached" and late["reason"] == "limit of 5 email per profile"


def test_blocked_values_identify_nobody(dmp):
    dmp.events.ingest([
        msg("identify", "01", userId="anonymous", anonymousId="a1",
            traits={"email": "x@y.example"}),
        msg("identify", "02", userId="anonymous", anonymousId="a2",
            traits={"email": "test@test.com"}),
        msg("identify", "03", userId="0", anonymousId="a3", traits={"email": " NULL "}),
    ], source="web")
    summary = dmp.identity.resolve()
    assert profiles(dmp) == 3
    assert summary.refused["user_id: blocked value"] == 2
    with pytest.raises(NotFoundError, match="no profile has that user_id"):
        dmp.identity.profile_of("user_id", "anonymous")


def test_merge_across_builds_is_recorded_and_can_be_undone(dmp):
    dmp.events.ingest([msg("page", "01", anonymousId="dev1", messageId="p1"),
                       msg("track", "02", userId="u9", event="Signed Up", messageId="t1")],
                      source="web")
    dmp.identity.resolve()
    anon_profile = dmp.identity.profile_of("anonymous_id", "dev1")
    user_profile = dmp.identity.profile_of("user_id", "u9")
    assert anon_profile != user_profile
    dmp.events.ingest([msg("identify", "03", userId="u9", anonymousId="dev1", messageId="i1")],
                      source="web")
    summary = dmp.identity.resolve()
    assert summary.merges == 1
    assert dmp.identity.profile_of("anonymous_id", "dev1") == user_profile
    merge = dmp.identity.merges(user_profile)[0]
    assert (merge["from_profile"], merge["into_profile"]) == (anon_profile, user_profile)
    assert merge["rule"] == "deterministic:user_id"
    assert merge["evidence"]["via_message_id"] == "i1"
    result = dmp.identity.unmerge(merge["id"])
    assert result["restored_profile"] == anon_profile
    assert dmp.identity.profile_of("anonymous_id", "dev1") == anon_profile
    assert dmp.identity.profile_of("user_id", "u9") == user_profile
    assert dmp.identity.merges(user_profile)[0]["undone_at"] is not None
    with pytest.raises(ValidationError, match="already undone"):
        dmp.identity.unmerge(merge["id"])
    with pytest.raises(NotFoundError, match="no merge 'm_nope'"):
        dmp.identity.unmerge("m_nope")
    # later builds keep the two apart
    dmp.identity.resolve()
    assert dmp.identity.profile_of("anonymous_id", "dev1") == anon_profile
    assert merge["evidence"]["from_anchor"] == "anonymous_id:dev1"
    assert merge["evidence"]["into_anchor"] == "user_id:u9"
