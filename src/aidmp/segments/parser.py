"""The segment rule language: text a marketer types -> :class:`~aidmp.spec.segments.SegmentSpec`.

Grammar (keywords in any case)::

    rule      := or ; or := and ("or" and)* ; and := unary ("and" unary)*
    unary     := "not" unary | "(" rule ")" | predicate
    predicate := subject (= | != | > | >= | < | <=) value | subject between v and v
               | subject [not] in (v, ...) | subject is [not] null | subject contains v
               | event(...) | consent("purpose") | in_segment("segment")
    subject   := trait | interest("category") | count("Event", ...)
               | sum|avg|min|max("Event", "property", ...)
    arguments := within=30d | count >= 2 | where revenue > 50 and item.category = "Books"

Lark (LALR) does the parsing; this module turns its tree into the spec and its errors into
:class:`aidmp.errors.ValidationError` with the line:column and what was expected there.

Example:
    >>> spec = parse_rule('age between 25 and 35 and not event("Order Completed", within=30d)')
    >>> [c.kind for c in spec.condition.conditions]
    ['trait', 'not']
    >>> parse_rule('age >')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: rule: the rule ends too early at 1:6; expected ... a number...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import lark
from lark import Token, Transformer, v_args
from pydantic import ValidationError as PydanticValidationError

from aidmp.segments.catalog import Catalog, fail, slug, suggest
from aidmp.segments.grammar import rule_parser, syntax_error
from aidmp.spec.segments import (
    AggregateCondition,
    AndCondition,
    Condition,
    ConsentCondition,
    EventCondition,
    NotCondition,
    OrCondition,
    PropertyFilter,
    SegmentCondition,
    SegmentSpec,
    TraitCondition,
    duration_seconds,
)

_FUNCTIONS = ("event", "count", "sum", "avg", "min", "max", "consent", "in_segment", "interest")
_AGGREGATES = ("sum", "avg", "min", "max")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class Duration(str):
    """A duration literal (``30d``) as typed; only ``within=`` takes one."""

    __slots__ = ()


@dataclass
class _Call:
    name: str
    loc: str
    positional: list[tuple[Any, str]]
    keywords: dict[str, tuple[str, Any, str]]
    where: list[PropertyFilter] | None


def _loc(token: Token) -> str:
    return f"at {token.line}:{token.column}"


def _plain(value: Any, loc: str) -> Any:
    if isinstance(value, Duration):
        raise fail(f"a duration ({value}) only goes in within= ({loc})")
    return value


@v_args(inline=True)
class _ToSpec(Transformer[Token, Condition]):
    """Lark tree -> spec conditions, checking names against the catalog on the way."""

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog

    # -- literals ------------------------------------------------------------------------------
    def STRING(self, tok: Token) -> str:
        return _ESCAPE.sub(r"\1", str(tok)[1:-1])

    def NUMBER(self, tok: Token) -> float | int:
        text = str(tok)
        if re.fullmatch(r"-?[0-9]{1,15}", text):
            return int(text)
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise fail(f"number {text} is out of range ({_loc(tok)})")
        return number

    def DURATION(self, tok: Token) -> Duration:
        return Duration(str(tok))

    def TRUE(self, tok: Token) -> bool:
        return True

    def FALSE(self, tok: Token) -> bool:
        return False

    def values(self, *items: Any) -> list[Any]:
        return list(items)

    # -- functions -----------------------------------------------------------------------------
    def positional(self, value: Any) -> tuple[str, Any]:
        return ("pos", value)

    def keyword(self, name: Token, op: Token, value: Any) -> tuple[str, Any]:
        return ("kw", (str(name), str(op), value, _loc(name)))

    def where(self, *filters: PropertyFilter) -> tuple[str, Any]:
        return ("where", list(filters))

    def call(self, name: Token, *args: tuple[str, Any]) -> _Call:
        fn = str(name).lower()
        loc = _loc(name)
        if fn not in _FUNCTIONS:
            raise suggest(str(name), _FUNCTIONS, "function", loc)
        out = _Call(fn, loc, [], {}, None)
        for kind, arg in args:
            if kind == "pos":
                out.positional.append((arg, loc))
            elif kind == "kw":
                key, op, value, kloc = arg
                if key.lower() in out.keywords:
                    raise fail(f"{key} is given twice in {fn}(...) ({kloc})")
                out.keywords[key.lower()] = (op, value, kloc)
            else:
                if out.where is not None:
                    raise fail(f"one where per {fn}(...); join filters with and ({loc})")
                out.where = arg
        return out

    # -- predicates ----------------------------------------------------------------------------
    def _trait(self, subject: Token | _Call, op: str, value: Any) -> Condition:
        if isinstance(subject, _Call):
            return self._call_compare(subject, op, value)
        name, loc = str(subject), _loc(subject)
        value = [_plain(v, loc) for v in value] if isinstance(value, list) else _plain(value, loc)
        self.catalog.check_trait(name, op, value, loc)
        return TraitCondition(trait=name, op=op, value=value)  # type: ignore[arg-type]

    def compare(self, subject: Token | _Call, op: Token, value: Any) -> Condition:
        return self._trait(subject, "=" if str(op) == "==" else str(op), value)

    def between(self, subject: Token | _Call, low: Any, high: Any) -> Condition:
        if isinstance(subject, _Call):
            return AndCondition(conditions=[self._call_compare(subject, ">=", low),
                                            self._call_compare(subject, "<=", high)])
        return self._trait(subject, "between", [low, high])

    def isin(self, subject: Token | _Call, values: list[Any]) -> Condition:
        return self._trait(subject, "in", values)

    def notin(self, subject: Token | _Call, values: list[Any]) -> Condition:
        return self._trait(subject, "not in", values)

    def isnull(self, subject: Token | _Call) -> Condition:
        return self._trait(subject, "is null", None)

    def notnull(self, subject: Token | _Call) -> Condition:
        return self._trait(subject, "is not null", None)

    def contains(self, subject: Token | _Call, value: Any) -> Condition:
        return self._trait(subject, "contains", value)

    def negate(self, condition: Condition) -> Condition:
        return NotCondition(condition=condition)

    def and_(self, *conditions: Condition) -> Condition:
        return AndCondition(conditions=list(conditions))

    def or_(self, *conditions: Condition) -> Condition:
        return OrCondition(conditions=list(conditions))

    def start(self, condition: Condition) -> Condition:
        return condition

    def bare(self, call: _Call) -> Condition:
        if call.name == "event":
            return self._event(call)
        if call.name in ("consent", "in_segment"):
            self._no_extras(call, 1)
            text = self._text_arg(call, 0, "purpose" if call.name == "consent" else "segment")
            if call.name == "consent":
                return ConsentCondition(purpose=text)
            self.catalog.check_segment(text, call.loc)
            return SegmentCondition(segment=text)
        raise fail(f"{call.name}(...) is a value; compare it, e.g. {call.name}(...) > 0 "
                   f"({call.loc})")

    # -- function helpers ----------------------------------------------------------------------
    @staticmethod
    def _text_arg(call: _Call, i: int, what: str) -> str:
        if len(call.positional) <= i or not isinstance(call.positional[i][0], str) \
                or isinstance(call.positional[i][0], Duration) or not call.positional[i][0]:
            raise fail(f"{call.name}(...) needs the {what} as a quoted text ({call.loc})")
        return str(call.positional[i][0])

    @staticmethod
    def _no_extras(call: _Call, positional: int, keywords: tuple[str, ...] = (),
                   where: bool = False) -> None:
        if len(call.positional) > positional:
            raise fail(f"{call.name}(...) takes {positional} quoted argument(s) ({call.loc})")
        for key, (_, _, kloc) in call.keywords.items():
            if key not in keywords:
                valid = ", ".join(keywords) or "none"
                raise fail(f"{call.name}(...) has no option {key!r} ({kloc}); valid: {valid}")
        if call.where is not None and not where:
            raise fail(f"{call.name}(...) takes no where ({call.loc})")

    @staticmethod
    def _within(call: _Call) -> str | None:
        if "within" not in call.keywords:
            return None
        op, value, kloc = call.keywords["within"]
        if op != "=":
            raise fail(f"write within={value} ({kloc})")
        try:
            duration_seconds(str(value))
        except ValueError as exc:
            raise fail(f"{exc} ({kloc})") from None
        return str(value)

    def _event(self, call: _Call) -> EventCondition:
        self._no_extras(call, 1, ("within", "count"), where=True)
        name = self._text_arg(call, 0, "event name")
        count_op, count = ">=", 1
        if "count" in call.keywords:
            op, value, kloc = call.keywords["count"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise fail(f"count must be compared with a whole number >= 0 ({kloc})")
            count_op, count = ("=" if op == "==" else op), value
        return EventCondition(event=name, within=self._within(call), count_op=count_op,  # type: ignore[arg-type]
                              count=count, where=call.where or [])

    def _call_compare(self, call: _Call, op: str, value: Any) -> Condition:
        if op in ("in", "not in", "contains", "is null", "is not null"):
            raise fail(f"{call.name}(...) is a number; use =, !=, >, >=, <, <= or between "
                       f"({call.loc})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"{call.name}(...) is a number; compare it with a number ({call.loc})")
        if call.name == "interest":
            self._no_extras(call, 1)
            trait = "interest_" + slug(self._text_arg(call, 0, "category"))
            self.catalog.check_trait(trait, op, value, call.loc)
            return TraitCondition(trait=trait, op=op, value=value)  # type: ignore[arg-type]
        if call.name == "count" or call.name in _AGGREGATES:
            n_pos = 1 if call.name == "count" else 2
            self._no_extras(call, n_pos, ("within",), where=True)
            event = self._text_arg(call, 0, "event name")
            prop = None if call.name == "count" else self._text_arg(call, 1, "property name")
            return AggregateCondition(fn=call.name, event=event, property=prop,  # type: ignore[arg-type]
                                      within=self._within(call), where=call.where or [],
                                      op=op, value=float(value))  # type: ignore[arg-type]
        raise fail(f"{call.name}(...) is true or false on its own; it cannot be compared "
                   f"({call.loc})")

    # -- where filters -------------------------------------------------------------------------
    def path(self, *names: Token) -> tuple[str, str]:
        return ".".join(str(n) for n in names), _loc(names[0])

    def _filter(self, path: tuple[str, str], op: str, value: Any) -> PropertyFilter:
        name, loc = path
        value = [_plain(v, loc) for v in value] if isinstance(value, list) else _plain(value, loc)
        try:
            return PropertyFilter(property=name, op=op, value=value)  # type: ignore[arg-type]
        except PydanticValidationError:
            raise fail(f"bad property name {name!r} ({loc}); use letters, digits and _, "
                       "item.<field> for the catalog item") from None

    def f_compare(self, path: tuple[str, str], op: Token, value: Any) -> PropertyFilter:
        return self._filter(path, "=" if str(op) == "==" else str(op), value)

    def f_between(self, path: tuple[str, str], low: Any, high: Any) -> PropertyFilter:
        return self._filter(path, "between", [low, high])

    def f_isin(self, path: tuple[str, str], values: list[Any]) -> PropertyFilter:
        return self._filter(path, "in", values)

    def f_notin(self, path: tuple[str, str], values: list[Any]) -> PropertyFilter:
        return self._filter(path, "not in", values)

    def f_isnull(self, path: tuple[str, str]) -> PropertyFilter:
        return self._filter(path, "is null", None)

    def f_notnull(self, path: tuple[str, str]) -> PropertyFilter:
        return self._filter(path, "is not null", None)

    def f_contains(self, path: tuple[str, str], value: Any) -> PropertyFilter:
        return self._filter(path, "contains", value)


def parse_rule(text: str, catalog: Catalog | None = None) -> SegmentSpec:
    """Parse rule text into a spec, checking names and types against ``catalog``.

    Raises:
        aidmp.errors.ValidationError: a syntax error (with line:column and what would fit),
            an unknown trait / function / segment (with the nearest valid name), a type error.
    """
    if not isinstance(text, str) or not text.strip():
        raise fail("the rule is empty; e.g. age > 30 and consent(\"email\")")
    if len(text) > 20_000:
        raise fail("the rule is longer than 20,000 characters")
    try:
        tree = rule_parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise syntax_error(exc, text) from None
    try:
        condition = _ToSpec(catalog or Catalog()).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, ValueError):  # our ValidationError or pydantic's
            raise _as_validation(exc.orig_exc) from None
        raise
    except RecursionError:
        raise fail("the rule nests too deeply") from None
    return SegmentSpec(condition=condition)


def _as_validation(exc: ValueError) -> ValueError:
    if isinstance(exc, PydanticValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return fail(f"{where}: {err['msg']}")
    return exc
