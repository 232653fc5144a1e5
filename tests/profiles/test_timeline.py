"""The profile timeline: the events the identity graph gave the person, then the newer ones."""

from __future__ import annotations

from typing import Any

import pytest

from aidmp import DMP
from aidmp.errors import ValidationError
from aidmp.profiles import timeline as tl


def _ev(mid: str, day: int, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Product Viewed", "messageId": mid,
            "timestamp": f"2026-03-{day:02d}T10:00:00Z", **fields}


@pytest.fixture()
def ann(dmp: DMP) -> str:
    """Ann logs in as u1 on device a1; a server sends events with a blocked anonymous id
    ("0") and only her e-mail; Bob (u2) is someone else."""
    dmp.events.ingest([
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "id1",
         "traits": {"email": "Ann@X.com"}, "timestamp": "2026-03-01T09:00:00Z"},
        _ev("w1", 2, anonymousId="a1"),
        _ev("w2", 3, userId="u1"),
        _ev("s1", 4, anonymousId="0", context={"traits": {"email": "ann@x.com"}},
            event="Order Completed", properties={"revenue": 12.5}),
        _ev("b1", 5, userId="u2"),
    ], source="web")
    dmp.build()
    return dmp.identity.profile_of("user_id", "u1")


def test_events_given_by_the_graph_and_newer_ones_newest_first(dmp: DMP, ann: str) -> None:
    page = dmp.profiles.events(ann)
    # the server event is Ann's through her e-mail alone: no user or anonymous id of hers
    assert [e["message_id"] for e in page["events"]] == ["s1", "w2", "w1", "id1"]
    assert page["total"] == 4 and page["events"][0]["properties"] == {"revenue": 12.5}
    # after the build: her device's new event is in the timeline before any new build
    dmp.events.ingest([_ev("w3", 6, anonymousId="a1"), _ev("b2", 7, userId="u2")], source="web")
    page = dmp.profiles.events(ann, size=2)
    assert page["total"] == 5 and [e["message_id"] for e in page["events"]] == ["w3", "s1"]
    assert [e["message_id"] for e in dmp.profiles.events(ann, page=3, size=2)["events"]] \
        == ["id1"]
    assert dmp.profiles.events(ann, page=4, size=2)["events"] == []
    dmp.build()
    assert dmp.profiles.events(ann)["total"] == 5


def test_a_long_timeline_is_read_in_one_scan_with_the_same_pages(
        dmp: DMP, ann: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dmp.events.ingest([_ev("w4", 8, anonymousId="a1")], source="web")
    probed = [dmp.profiles.events(ann, page=p, size=2) for p in (1, 2, 3)]
    monkeypatch.setattr(tl, "PROBE_LIMIT", 0)
    scanned = [dmp.profiles.events(ann, page=p, size=2) for p in (1, 2, 3)]
    assert scanned == probed
    assert [e["message_id"] for p in scanned for e in p["events"]] \
        == ["w4", "s1", "w2", "w1", "id1"]


def test_timeline_before_any_build_reads_the_identifiers(dmp: DMP) -> None:
    dmp.events.ingest([_ev("w1", 2, userId="u1", anonymousId="a1"),
                       _ev("w2", 3, anonymousId="a1")], source="web")
    dmp.identity.resolve()
    dmp.engine.drop("event_profiles")  # a store resolved before the event map existed
    page = dmp.profiles.events(dmp.identity.profile_of("user_id", "u1"))
    assert [e["message_id"] for e in page["events"]] == ["w2", "w1"]


@pytest.mark.parametrize(("page", "size", "field"), [(0, 10, "page"), (1, 0, "size"),
                                                     (1, 1001, "size")])
def test_bad_paging_names_the_field(dmp: DMP, ann: str, page: int, size: int,
                                    field: str) -> None:
    with pytest.raises(ValidationError) as err:
        dmp.profiles.events(ann, page=page, size=size)
    assert err.value.field == field and str(page if field == "page" else size) in str(err.value)
