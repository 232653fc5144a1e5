"""Collect: the Segment-compatible collector, its write-ahead log, file imports and quarantine."""
