"""``recall_linked`` counts the pairs the data links (co-occurrence in events, transitively),
whatever the resolver made of them (issue 17): a missed link is a miss, not left out."""

from __future__ import annotations

import polars as pl

from aidmp import DMP
from aidmp.identity.evaluate import data_components, evaluate


def event(i: int, **ids: str) -> dict:
    traits = {"email": ids.pop("email")} if "email" in ids else None
    return {"type": "identify", "messageId": f"m{i}", "timestamp": f"2026-01-0{i}T00:00:00Z",
            **ids, **({"traits": traits} if traits else {})}


def test_a_split_by_the_rules_counts_as_a_missed_link(dmp: DMP) -> None:
    dmp.events.ingest([
        # one person who had two accounts, tied by one e-mail: the limit of one user id per
        # profile splits them, so the resolver misses u2's links
        event(1, userId="u1", email="ann@x.io"),
        event(2, userId="u2", email="ann@x.io"),
        # a second person, linked through their device
        event(3, userId="u3", anonymousId="d3"),
        # their other device never logs in: nothing in the data links it
        event(4, anonymousId="d4"),
    ], source="web")
    dmp.identity.resolve()
    comps = dict(data_components(dmp.identity).iter_rows())
    assert comps["user_id:u1"] == comps["user_id:u2"] == comps["email:ann@x.io"]
    assert comps["user_id:u3"] == comps["anonymous_id:d3"] != comps["anonymous_id:d4"]
    truth = pl.DataFrame({
        "id_type": ["user_id", "user_id", "email", "user_id", "anonymous_id", "anonymous_id"],
        "id_value": ["u1", "u2", "Ann@X.io ", "u3", "d3", "d4"],
        "person_id": ["p1", "p1", "p1", "p2", "p2", "p2"]})
    scores = evaluate(dmp.identity, truth)
    # true pairs: 3 of p1 + 3 of p2; the data links 3 of p1 and 1 of p2 (u3-d3)
    assert (scores["true_pairs"], scores["linkable_pairs"]) == (6, 4)
    # the resolver keeps u1 with the e-mail and u3 with d3: 2 of the 4 linkable pairs
    assert scores["true_positive_pairs"] == 2
    assert scores["recall_linked"] == 0.5 and scores["recall"] == round(2 / 6, 6)
