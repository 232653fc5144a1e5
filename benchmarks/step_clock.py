"""Seconds per named step of a pipeline, and in total (for the benchmarks' baselines).

Example:
    >>> clock = StepClock()
    >>> clock.lap("parse")
    >>> sorted(clock.done())
    ['parse', 'total']
"""

from __future__ import annotations

import time


class StepClock:
    """Started when made; ``lap(step)`` records the time since the previous lap."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        """Record ``step`` as the time since the previous lap (or the start)."""
        now = time.perf_counter()
        self.seconds[step] = round(now - self._last, 3)
        self._last = now

    def done(self) -> dict[str, float]:
        """The steps' seconds and ``total`` since the start."""
        self.seconds["total"] = round(time.perf_counter() - self._start, 3)
        return self.seconds
