"""The embedded DuckDB engine (the default): one database file under the aidmp home."""

from aidmp.engine.duckdb.engine import DuckDBEngine

__all__ = ["DuckDBEngine"]
