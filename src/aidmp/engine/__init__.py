"""Storage engines. The rest of aidmp talks only to :class:`aidmp.engine.base.Engine`.

``duckdb`` is imported only under ``engine/duckdb/`` and ``pyspark`` only under ``engine/spark/``.
"""

from aidmp.engine.base import Engine

__all__ = ["Engine"]
