"""The Apache Spark engine: Parquet tables in a Spark warehouse, for data beyond one machine.

The only package that imports ``pyspark``; importing it does not start a JVM.
"""

from aidmp.engine.spark.engine import SparkEngine, build_session

__all__ = ["SparkEngine", "build_session"]
