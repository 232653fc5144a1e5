"""Segments: rule language -> JSON spec -> one engine query; membership with history.

Example:
    >>> from aidmp.segments import parse_rule
    >>> parse_rule('consent("email")').condition.kind
    'consent'
"""

from aidmp.segments.compiler import CompiledSegment, compile_spec
from aidmp.segments.parser import parse_rule
from aidmp.segments.service import Segments

__all__ = ["CompiledSegment", "Segments", "compile_spec", "parse_rule"]
