"""Spark and Py4J failures as :class:`~aidmp.errors.EngineError` with the step and the query."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException

from aidmp.errors import EngineError

SPARK_ERRORS = (PySparkException, Py4JError)
MAX_DETAIL = 4000  # characters of a JVM error kept in the message

__all__ = ["MAX_DETAIL", "SPARK_ERRORS", "describe", "wrapped"]


def describe(exc: BaseException) -> str:
    """The useful part of a Spark error (Py4J errors carry a whole JVM stack trace)."""
    text = str(exc).strip()
    if isinstance(exc, Py4JError) and not isinstance(exc, PySparkException):
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("\tat ")]
        text = "\n".join(lines[:12])
    return text[:MAX_DETAIL]


@contextmanager
def wrapped(step: str, query: str | None = None) -> Iterator[None]:
    """Turn Spark and Py4J failures into :class:`EngineError` carrying the query."""
    try:
        yield
    except SPARK_ERRORS as exc:
        detail = describe(exc)
        if query:
            detail += f"\n-- query:\n{query}"
        raise EngineError(step, detail) from exc
