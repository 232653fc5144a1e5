"""The store: engine-neutral declarations of every table aidmp keeps, and their migrations."""

from aidmp.store.schema import MIGRATIONS, TABLES, Column, TableSpec

__all__ = ["MIGRATIONS", "TABLES", "Column", "TableSpec"]
