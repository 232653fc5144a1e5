"""Which scored pairs become links: the one-to-one constraint and the identity rules' limits.

Candidates are taken best score first. A pair at or above the threshold becomes an active link
unless (a) with ``one_to_one``, one of its records already links to a better partner on the
other side, or (b) the link would put two values of a limit-1 identifier type (two ``user_id``)
into one profile together with the links already taken, which the identity graph would split
again, taking the true link with it. Such a pair is kept for review with the reason, instead
of being applied; nothing else is split.

Example:
    >>> cands = [Candidate("a1", "b1", "a", "b", 0.99), Candidate("a2", "b1", "a", "b", 0.97),
    ...          Candidate("a2", "b2", "a", "b", 0.96)]
    >>> limited = {"a1": {"user_id": {"1"}}, "a2": {"user_id": {"2"}}}
    >>> [(c.status, c.reason is None) for c in select(cands, limited, 0.95, one_to_one=False)]
    [('active', True), ('review', False), ('active', True)]
    >>> select(cands, limited, 0.95, one_to_one=False)[1].reason
    'conflict: would put two user_id values in one profile; a better link (p=0.99) holds one'
    >>> [c.status for c in select(cands, {}, 0.95, one_to_one=True)]
    ['active', 'review', 'active']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Limited = Mapping[str, Mapping[str, set[str]]]


@dataclass
class Candidate:
    """A scored pair of records of two profiles."""

    profile_l: str
    profile_r: str
    side_l: str
    side_r: str
    score: float
    status: str = "review"
    reason: str | None = None


class _Components:
    """Union-find over profiles, each component carrying its limit-1 identifiers and the best
    score that joined it."""

    def __init__(self, limited: Limited) -> None:
        self.parent: dict[str, str] = {}
        self.ids: dict[str, dict[str, set[str]]] = {
            p: {t: set(v) for t, v in types.items()} for p, types in limited.items()}
        self.best: dict[str, float] = {}

    def find(self, p: str) -> str:
        root = p
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while p != root:
            self.parent[p], p = root, self.parent.get(p, p)
        return root

    def clash(self, a: str, b: str) -> str | None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        ia, ib = self.ids.get(ra, {}), self.ids.get(rb, {})
        for t in sorted(set(ia) & set(ib)):
            if len(ia[t] | ib[t]) > 1:
                return t
        return None

    def join(self, a: str, b: str, score: float) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        self.parent[rb] = ra
        merged = self.ids.setdefault(ra, {})
        for t, values in self.ids.pop(rb, {}).items():
            merged.setdefault(t, set()).update(values)
        self.best[ra] = max(self.best.get(ra, 0.0), self.best.pop(rb, 0.0), score)


def select(candidates: list[Candidate], limited: Limited, threshold: float, *,
           one_to_one: bool) -> list[Candidate]:
    """Set each candidate's status (``active`` / ``review``) and reason, best score first.

    Args:
        candidates: scored pairs at or above the review threshold, any order.
        limited: profile -> limit-1 identifier type -> its values in that profile.
        threshold: the score from which a pair may become active.
        one_to_one: each record keeps at most one active partner on the other side.
    """
    ordered = sorted(candidates, key=lambda c: (-c.score, c.profile_l, c.profile_r))
    comps = _Components(limited)
    partner: dict[tuple[str, str, str], float] = {}
    for c in ordered:
        if c.score < threshold:
            c.status, c.reason = "review", None
            continue
        left, right = (c.profile_l, c.side_l, c.side_r), (c.profile_r, c.side_r, c.side_l)
        if one_to_one and (left in partner or right in partner):
            better = max(partner.get(left, 0.0), partner.get(right, 0.0))
            c.status = "review"
            c.reason = f"one-to-one: a record already links to a better partner (p={better:.4g})"
            continue
        kind = comps.clash(c.profile_l, c.profile_r)
        if kind is not None:
            best = max(comps.best.get(comps.find(p), 0.0) for p in (c.profile_l, c.profile_r))
            c.status = "review"
            held = (f"a better link (p={best:.4g}) holds one" if best else
                    f"each profile holds one (give one side's ids another type than {kind})")
            c.reason = f"conflict: would put two {kind} values in one profile; {held}"
            continue
        c.status, c.reason = "active", None
        comps.join(c.profile_l, c.profile_r, c.score)
        partner[left] = partner[right] = c.score
    return ordered


__all__ = ["Candidate", "select"]
