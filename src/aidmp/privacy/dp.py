"""Differentially private aggregate reports, for sharing outside the team.

Segment sizes and overlaps are counts of people; adding or removing one person changes each
count by at most one, and a person can sit in every segment of a report, so ``k`` sizes have an
L1 sensitivity of ``k`` and a ``k x k`` overlap table (upper triangle with the diagonal) of
``k (k + 1) / 2``. OpenDP's Laplace mechanism adds noise of scale sensitivity / epsilon; the
released counts are rounded and clipped at zero (post-processing spends no budget).

Every release spends epsilon from the installation's budget (``privacy.dp_budget``), recorded
in ``dp_releases`` with the report's name; a release that would overdraw it is refused.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp(), privacy={"dp_budget": 5000.0})
    >>> dmp.engine.write_table("profiles", pa.table({"profile_id": [f"p{i}" for i in range(100)],
    ...                                              "age": [float(i) for i in range(100)]}))
    >>> _ = dmp.segments.create("Old", rule="age >= 50")
    >>> out = dmp.privacy.dp.segment_sizes(["old"], epsilon=1000.0)
    >>> abs(out["sizes"]["old"] - 50) <= 1, out["epsilon_spent"], out["budget_left"]
    (True, 1000.0, 4000.0)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.segments.service import Segments


def _laplace(values: list[int], sensitivity: float, epsilon: float) -> list[int]:
    """OpenDP's vector Laplace mechanism over integer counts; rounded, clipped at zero."""
    try:
        import opendp.prelude as dp
    except ImportError as exc:  # an optional extra
        raise ValidationError("differentially private reports need OpenDP: pip install "
                              "'aidmp[dp]'", field="epsilon") from exc
    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    meas = space >> dp.m.then_laplace(scale=sensitivity / epsilon)
    noisy = meas([float(v) for v in values])
    return [max(0, round(x)) for x in noisy]


class PrivateReports:
    """Noisy counts with a tracked privacy budget.

    Args:
        engine: the store (``dp_releases`` ledger).
        segments: the segments service (exact sizes and memberships).
        budget: total epsilon the installation may spend.
    """

    def __init__(self, engine: Engine, segments: Segments, budget: float) -> None:
        self.engine = engine
        self.segments = segments
        self.budget = budget

    def spent(self) -> float:
        """Epsilon spent so far."""
        t = self.engine.table("dp_releases")
        v = self.engine.execute(t.aggregate(e=t.epsilon.sum())).column("e")[0].as_py()
        return float(v or 0.0)

    def releases(self) -> list[dict[str, Any]]:
        """Every release: report, epsilon, when, by whom."""
        t = self.engine.table("dp_releases")
        return self.engine.execute(t.order_by(t.at.desc())).to_pylist()  # type: ignore[no-any-return]

    def _spend(self, report: str, epsilon: float, actor: str) -> float:
        if not 0 < epsilon <= 1e6:
            raise ValidationError("epsilon must be in (0, 1000000]", field="epsilon")
        left = self.budget - self.spent()
        if epsilon > left + 1e-12:
            raise ValidationError(f"this release needs epsilon {epsilon:g}; {left:g} of the "
                                  f"budget {self.budget:g} is left", field="epsilon")
        self.engine.append("dp_releases", pa.Table.from_pylist([{
            "id": uuid.uuid4().hex, "report": report, "epsilon": float(epsilon),
            "at": datetime.now(UTC), "actor": actor}],
            schema=arrow_schema(TABLES["dp_releases"])))
        return left - epsilon

    def segment_sizes(self, segment_ids: Sequence[str], *, epsilon: float,
                      actor: str = "cli") -> dict[str, Any]:
        """Noisy sizes of ``segment_ids`` for ``epsilon`` in all."""
        ids = list(dict.fromkeys(segment_ids))
        if not ids:
            raise ValidationError("name at least one segment", field="segment_ids")
        exact = [int(self.segments.size(s)["size"]) for s in ids]
        left = self._spend("segment_sizes", epsilon, actor)
        noisy = _laplace(exact, sensitivity=len(ids), epsilon=epsilon)
        return {"sizes": dict(zip(ids, noisy, strict=True)), "epsilon_spent": epsilon,
                "budget_left": left, "noise_scale": len(ids) / epsilon}

    def overlaps(self, segment_ids: Sequence[str], *, epsilon: float,
                 actor: str = "cli") -> dict[str, Any]:
        """Noisy sizes of every pair's intersection (and each segment) for ``epsilon``."""
        ids = list(dict.fromkeys(segment_ids))
        if len(ids) < 2:
            raise ValidationError("name at least two segments", field="segment_ids")
        members = {s: set(self.segments.member_ids(s)) for s in ids}
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i:]]
        exact = [len(members[a] & members[b]) for a, b in pairs]
        left = self._spend("overlaps", epsilon, actor)
        sens = len(pairs)
        noisy = _laplace(exact, sensitivity=sens, epsilon=epsilon)
        return {"overlaps": [{"a": a, "b": b, "people": n}
                             for (a, b), n in zip(pairs, noisy, strict=True)],
                "epsilon_spent": epsilon, "budget_left": left, "noise_scale": sens / epsilon}
