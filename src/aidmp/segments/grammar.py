"""The grammar of the rule language, and Lark's syntax errors in words a marketer reads.

Example:
    >>> tree = rule_parser().parse('age > 30 and consent("email")')
    >>> tree.data
    Token('RULE', 'start')
"""

from __future__ import annotations

from functools import lru_cache

import lark
from lark import Lark

from aidmp.segments.catalog import fail

GRAMMAR = r"""
start: or_
?or_: and_ (_OR and_)*
?and_: unary (_AND unary)*
?unary: _NOT unary                          -> negate
      | "(" or_ ")"
      | predicate
?predicate: subject CMP value               -> compare
          | subject _BETWEEN value _AND value -> between
          | subject _IN "(" values ")"       -> isin
          | subject _NOT _IN "(" values ")"  -> notin
          | subject _IS _NULL                -> isnull
          | subject _IS _NOT _NULL           -> notnull
          | subject _CONTAINS value          -> contains
          | call                             -> bare
?subject: NAME | call
call: NAME "(" [arg ("," arg)*] ")"
?arg: value                                 -> positional
    | NAME CMP value                        -> keyword
    | _WHERE filter (_AND filter)*          -> where
filter: path CMP value                      -> f_compare
      | path _BETWEEN value _AND value      -> f_between
      | path _IN "(" values ")"             -> f_isin
      | path _NOT _IN "(" values ")"        -> f_notin
      | path _IS _NULL                      -> f_isnull
      | path _IS _NOT _NULL                 -> f_notnull
      | path _CONTAINS value                -> f_contains
path: NAME ("." NAME)*
values: value ("," value)*
?value: STRING | NUMBER | DURATION | TRUE | FALSE

_OR: "or"i
_AND: "and"i
_NOT: "not"i
_BETWEEN: "between"i
_IN: "in"i
_IS: "is"i
_NULL: "null"i
_CONTAINS: "contains"i
_WHERE: "where"i
TRUE: "true"i
FALSE: "false"i
CMP: "=" | "!=" | ">=" | "<=" | ">" | "<" | "=="
NAME: /[A-Za-z_][A-Za-z0-9_]*/
DURATION.2: /[0-9]+[A-Za-z]+/
NUMBER: /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
%ignore /[ \t\r\n]+/
"""

_TERMINALS = {
    "CMP": "a comparison (=, !=, >, >=, <, <=)", "NAME": "a trait or function name",
    "STRING": "a quoted text", "NUMBER": "a number", "DURATION": "a duration such as 30d",
    "TRUE": "true", "FALSE": "false", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "DOT": "'.'", "_AND": "and", "_OR": "or", "_NOT": "not", "_BETWEEN": "between",
    "_IN": "in", "_IS": "is", "_NULL": "null", "_CONTAINS": "contains", "_WHERE": "where",
}

@lru_cache(maxsize=1)
def rule_parser() -> Lark:
    """The LALR parser of :data:`GRAMMAR` (built once)."""
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


def expected(names: set[str]) -> str:
    """Terminal names in words."""
    shown = sorted({_TERMINALS.get(n, n.lower()) for n in names})
    return ", ".join(shown[:12])


def syntax_error(exc: lark.exceptions.UnexpectedInput, text: str) -> Exception:
    """A ValidationError for a Lark syntax error: line:column and what would fit there."""
    where = f"{exc.line}:{exc.column}"
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        end = text.rstrip("\n").split("\n")
        where = f"{len(end)}:{len(end[-1]) + 1}"
        return fail(f"the rule ends too early at {where}; expected {expected(set(exc.expected))}")
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        if exc.token.type == "$END":
            end = text.rstrip("\n").split("\n")
            where = f"{len(end)}:{len(end[-1]) + 1}"
            return fail(f"the rule ends too early at {where}; expected "
                        f"{expected(exc.accepts or exc.expected)}")
        return fail(f"unexpected {str(exc.token)!r} at {where}; expected "
                    f"{expected(exc.accepts or exc.expected)}")
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        allowed = expected(exc.allowed) if exc.allowed else "a rule"
        return fail(f"unexpected character {char!r} at {where}; expected {allowed}")
    return fail(f"cannot read the rule at {where}")


