"""A SOQL subset: parser (lark, grammar in ``soql.lark``), binding to the schema, and evaluation.

Three steps, each raising the error Salesforce would answer:

1. ``parse``: text to a small syntax tree, or ``MALFORMED_QUERY`` (anything outside the subset:
   functions, subqueries, GROUP BY, OFFSET, AND mixed with OR without parentheses, bad escapes...);
2. ``bind``: names resolved case-insensitively against the sObject, literal types checked against field
   types (``INVALID_TYPE``, ``INVALID_FIELD``, ``INVALID_QUERY_FILTER_OPERATOR``);
3. the bound query's ``predicate``/``sort``/``project`` run over plain dict records.

Semantics follow SOQL rather than SQL: text comparisons ignore case, ``!=`` and ``NOT IN`` match null
values (SOQL treats null as a value), ordering comparisons and LIKE never match null, nulls sort first
unless ``NULLS LAST``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any, Final

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import VisitError

from . import ids, timefmt
from .errors import ApiError
from .schema import ID_TYPES, OBJECTS, TEXT_TYPES, FieldDef, ObjectDef

Record = Mapping[str, Any]

# ---------------------------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Name:
    text: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Value:
    """A literal. ``kind`` is one of string, number, datetime, date, boolean, null."""

    kind: str
    value: Any
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Compare:
    field: Name
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class InList:
    field: Name
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class Like:
    field: Name
    # The pattern as written between the quotes: LIKE needs to tell ``\%`` from ``%``.
    raw: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Condition, ...]


Condition = Compare | InList | Like | Not | And | Or


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: Name
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[Name, ...]
    sobject: Name
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    text: str


# ------------------------------------------------------------------------------------------------- errors


def _located(text: str, line: int, column: int, message: str) -> str:
    """Salesforce's error layout: the query line, a caret under the column, the position, the message."""
    lines = text.splitlines() or [""]
    shown = lines[line - 1] if 0 < line <= len(lines) else lines[-1]
    caret = " " * max(column - 1, 0) + "^"
    return f"\n{shown}\n{caret}\nERROR at Row:{line}:Column:{column}\n{message}"


def malformed(text: str, line: int, column: int, message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", _located(text, line, column, message))


# ------------------------------------------------------------------------------------------------- parsing

_ESCAPES: Final[dict[str, str]] = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    # Only meaningful inside LIKE, where they are handled on the raw text; elsewhere they stand for
    # the character itself.
    "%": "%",
    "_": "_",
}


def unescape(raw: str) -> str:
    """Decode the escapes of a SOQL string literal body (what simple_salesforce.format_soql produces).

    Raises ValueError naming the illegal sequence.
    """
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if nxt.lower() == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
            out.append(chr(int(raw[i + 2 : i + 6], 16)))
            i += 6
            continue
        # Salesforce accepts the letter escapes in either case (\N, \T, ...).
        decoded = _ESCAPES.get(nxt.lower() if nxt.isalpha() else nxt)
        if decoded is None:
            raise ValueError(f"\\{nxt}")
        out.append(decoded)
        i += 2
    return "".join(out)


class _SoqlError(Exception):
    """Raised inside the transformer; carries the position, turned into MALFORMED_QUERY by ``parse``."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


def _value(kind: str, value: Any, tok: Token) -> Value:
    """A literal at its token's position."""
    return Value(kind, value, tok.line or 1, tok.column or 1)


def _parsed_literal(kind: str, tok: Token, parse: Callable[[str], Any]) -> Value:
    """A date or datetime literal; one that does not parse is refused at its position."""
    try:
        parsed = parse(str(tok))
    except ValueError:
        raise _SoqlError(tok.line or 1, tok.column or 1, f"invalid {kind}: {tok}") from None
    return _value(kind, parsed, tok)


class _ToAst(Transformer[Token, Any]):
    """lark tree to the dataclasses above."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def name(self, items: list[Token]) -> Name:
        tok = items[0]
        return Name(str(tok), tok.line or 1, tok.column or 1)

    def select_list(self, items: list[Name]) -> tuple[Name, ...]:
        return tuple(items)

    def string(self, items: list[Token]) -> Value:
        tok = items[0]
        body = str(tok)[1:-1]
        try:
            decoded = unescape(body)
        except ValueError as exc:
            raise _SoqlError(
                tok.line or 1,
                tok.column or 1,
                f"Invalid string literal '{body}'. Illegal character sequence '{exc}' in string literal.",
            ) from None
        return _value("string", decoded, tok)

    def number(self, items: list[Token]) -> Value:
        tok = items[0]
        text = str(tok)
        number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        return _value("number", number, tok)

    def datetime(self, items: list[Token]) -> Value:
        return _parsed_literal("datetime", items[0], timefmt.parse_sf)

    def date(self, items: list[Token]) -> Value:
        return _parsed_literal("date", items[0], date.fromisoformat)

    def true(self, items: list[Token]) -> Value:
        return _value("boolean", True, items[0])

    def false(self, items: list[Token]) -> Value:
        return _value("boolean", False, items[0])

    def null(self, items: list[Token]) -> Value:
        return _value("null", None, items[0])

    def compare(self, items: list[Any]) -> Compare:
        field, op, value = items
        return Compare(field, "!=" if str(op) == "<>" else str(op), value)

    def in_list(self, items: list[Any]) -> InList:
        return InList(items[0], tuple(items[1:]), negated=False)

    def not_in_list(self, items: list[Any]) -> InList:
        return InList(items[0], tuple(items[1:]), negated=True)

    def like(self, items: list[Any]) -> Like:
        field, tok = items
        return Like(field, str(tok)[1:-1], tok.line or 1, tok.column or 1)

    def not_expr(self, items: list[Any]) -> Not:
        return Not(items[0])

    def and_chain(self, items: list[Any]) -> And:
        return And(tuple(items))

    def or_chain(self, items: list[Any]) -> Or:
        return Or(tuple(items))

    def where_clause(self, items: list[Any]) -> Condition:
        cond: Condition = items[0]
        return cond

    # direction and nulls are both optional, so each comes back tagged for order_item to tell apart.
    def direction(self, items: list[Token]) -> tuple[str, bool]:
        return ("direction", str(items[0]).upper() == "DESC")

    def nulls(self, items: list[Token]) -> tuple[str, bool]:
        return ("nulls", str(items[1]).upper() == "LAST")

    def order_item(self, items: list[Any]) -> OrderItem:
        field: Name = items[0]
        flags: dict[str, bool] = dict(items[1:])
        return OrderItem(field, flags.get("direction", False), flags.get("nulls", False))

    def order_clause(self, items: list[OrderItem]) -> tuple[OrderItem, ...]:
        return tuple(items)

    def limit_clause(self, items: list[Token]) -> int:
        return int(str(items[0]))

    def start(self, items: list[Any]) -> Query:
        fields: tuple[Name, ...] = items[0]
        sobject: Name = items[1]
        where: Condition | None = None
        order_by: tuple[OrderItem, ...] = ()
        limit: int | None = None
        for item in items[2:]:
            if isinstance(item, tuple):
                order_by = item
            elif isinstance(item, int):
                limit = item
            else:
                where = item
        return Query(fields, sobject, where, order_by, limit, self._text)


@functools.cache
def _parser() -> Lark:
    grammar = resources.files(__package__).joinpath("soql.lark").read_text(encoding="utf-8")
    # LALR with the contextual lexer: linear time, and keywords stay usable as field-name prefixes.
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=False, maybe_placeholders=False)


def _describe_token(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return "unexpected token: <EOF>"
        return f"unexpected token: '{exc.token}'"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected token: '{exc.char}'"
    return "unexpected token: <EOF>"


def parse(text: str) -> Query:
    """Parse SOQL text; raise ``ApiError(400, MALFORMED_QUERY)`` with Salesforce's message layout."""
    if not text.strip():
        raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    try:
        tree = _parser().parse(text)
    except UnexpectedEOF as exc:
        lines = text.splitlines() or [""]
        raise malformed(text, len(lines), len(lines[-1]) + 1, _describe_token(exc)) from None
    except UnexpectedInput as exc:
        line = exc.line if exc.line and exc.line > 0 else 1
        column = exc.column if exc.column and exc.column > 0 else 1
        raise malformed(text, line, column, _describe_token(exc)) from None
    try:
        query: Query = _ToAst(text).transform(tree)
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _SoqlError):
            raise malformed(text, inner.line, inner.column, inner.message) from None
        raise
    return query


# ------------------------------------------------------------------------------------------------- binding

Predicate = Callable[[Record], bool]

_TYPE_WORD: Final[dict[str, str]] = {
    "string": "string",
    "picklist": "string",
    "textarea": "string",
    "id": "id",
    "reference": "id",
    "datetime": "dateTime",
    "boolean": "boolean",
    "double": "double",
}
# Literal kinds each field type accepts (null is accepted by all, with = and != only).
_ACCEPTS: Final[dict[str, frozenset[str]]] = {
    "string": frozenset({"string"}),
    "picklist": frozenset({"string"}),
    "textarea": frozenset({"string"}),
    "id": frozenset({"string"}),
    "reference": frozenset({"string"}),
    "datetime": frozenset({"datetime"}),
    "boolean": frozenset({"boolean"}),
    "double": frozenset({"number"}),
}


@dataclass(frozen=True, slots=True)
class BoundQuery:
    """A query checked against its sObject, ready to run over records (dicts keyed by canonical name)."""

    sobject: ObjectDef
    fields: tuple[FieldDef, ...]
    predicate: Predicate | None
    order_by: tuple[tuple[FieldDef, bool, bool], ...]
    limit: int | None
    # The top-level ``field = x`` / ``field IN (...)`` conjuncts on text or id fields, as
    # (canonical field name, normalized values), so that the store can use an index instead of a scan.
    index_hints: tuple[tuple[str, frozenset[str]], ...]
    # For a top-level OR: per alternative, one indexable condition (see index_plan); None: none.
    union_hints: tuple[tuple[str, frozenset[str], tuple[re.Pattern[str], ...]], ...] | None = None

    def sort(self, records: list[Record]) -> list[Record]:
        """Sort in place by ORDER BY (stable, last key first) and return the list."""
        for field, descending, nulls_last in reversed(self.order_by):
            records.sort(key=_sort_key(field, descending, nulls_last), reverse=descending)
        return records


def _sort_key(field: FieldDef, descending: bool, nulls_last: bool) -> Callable[[Record], tuple[Any, ...]]:
    name = field.name
    # With reverse=True the rank order flips too, so compute it for the final order wanted.
    null_rank = (0 if nulls_last else 1) if descending else (1 if nulls_last else 0)
    value_rank = 1 - null_rank
    text = field.type in TEXT_TYPES

    def key(record: Record) -> tuple[Any, ...]:
        value = record.get(name)
        if value is None:
            return (null_rank,)
        return (value_rank, value.casefold() if text else value)

    return key


class _Binder:
    def __init__(self, query: Query, sobject: ObjectDef) -> None:
        self.query = query
        self.sobject = sobject
        self.fields = sobject.field_map()

    def error(self, code: str, line: int, column: int, message: str) -> ApiError:
        return ApiError(400, code, _located(self.query.text, line, column, message))

    def field(self, name: Name) -> FieldDef:
        found = self.fields.get(name.text.lower())
        if found is None:
            raise self.error(
                "INVALID_FIELD",
                name.line,
                name.column,
                f"No such column '{name.text}' on entity '{self.sobject.name}'. If you are attempting to use "
                "a custom field, be sure to append the '__c' after the custom field name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
            )
        return found

    def filter_field(self, name: Name) -> FieldDef:
        field = self.field(name)
        if not field.filterable:
            raise self.error(
                "INVALID_FIELD",
                name.line,
                name.column,
                f"field '{field.name}' can not be filtered in a query call",
            )
        return field

    def literal(self, field: FieldDef, value: Value, op: str) -> Any:
        """Check one literal against the field and return it normalized for comparison."""
        if value.kind == "null":
            if op not in ("=", "!="):
                raise self.error(
                    "INVALID_QUERY_FILTER_OPERATOR", value.line, value.column, "invalid operator on null value"
                )
            return None
        if value.kind not in _ACCEPTS[field.type]:
            quoted = (
                "should be enclosed in quotes"
                if field.type in TEXT_TYPES | ID_TYPES
                else ("should not be enclosed in quotes")
            )
            raise self.error(
                "INVALID_FIELD",
                value.line,
                value.column,
                f"value of filter criterion for field '{field.name}' must be of type "
                f"{_TYPE_WORD[field.type]} and {quoted}",
            )
        if field.type == "boolean" and op not in ("=", "!="):
            raise self.error(
                "INVALID_QUERY_FILTER_OPERATOR",
                value.line,
                value.column,
                f"invalid operator on boolean field: {op}",
            )
        if field.type in ID_TYPES:
            canonical = ids.to_18(value.value)
            if canonical is None:
                raise self.error(
                    "INVALID_QUERY_FILTER_OPERATOR", value.line, value.column, f"invalid ID field: {value.value}"
                )
            return canonical
        if field.type in TEXT_TYPES:
            return str(value.value).casefold()
        return value.value

    def condition(self, cond: Condition) -> Predicate:
        if isinstance(cond, Compare):
            field = self.filter_field(cond.field)
            return _compare(field, cond.op, self.literal(field, cond.value, cond.op))
        if isinstance(cond, InList):
            field = self.filter_field(cond.field)
            values = frozenset(self.literal(field, v, "=") for v in cond.values)
            return _in_list(field, values, cond.negated)
        if isinstance(cond, Like):
            field = self.filter_field(cond.field)
            if field.type not in TEXT_TYPES:
                raise self.error(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    cond.line,
                    cond.column,
                    f"invalid operator on {_TYPE_WORD[field.type]} field: LIKE",
                )
            try:
                regex = like_to_regex(cond.raw)
            except ValueError as exc:
                raise self.error(
                    "MALFORMED_QUERY",
                    cond.line,
                    cond.column,
                    f"Invalid string literal '{cond.raw}'. Illegal character sequence '{exc}' in string literal.",
                ) from None
            return _like(field, regex)
        if isinstance(cond, Not):
            inner = self.condition(cond.operand)
            return lambda r: not inner(r)
        if isinstance(cond, And):
            parts = tuple(self.condition(c) for c in cond.operands)
            return lambda r: all(p(r) for p in parts)
        parts = tuple(self.condition(c) for c in cond.operands)
        return lambda r: any(p(r) for p in parts)

    def index_hints(self, cond: Condition | None) -> tuple[tuple[str, frozenset[str]], ...]:
        """The equality/IN conjuncts at the top level: any one of them may narrow the scan through an index."""
        if cond is None:
            return ()
        hints: list[tuple[str, frozenset[str]]] = []
        for c in _conjuncts(cond):
            if isinstance(c, Compare) and c.op == "=" and c.value.kind == "string":
                field = self.field(c.field)
                if field.type in TEXT_TYPES | ID_TYPES:
                    hints.append((field.name, frozenset({self.literal(field, c.value, "=")})))
            elif isinstance(c, InList) and not c.negated and all(v.kind == "string" for v in c.values):
                field = self.field(c.field)
                if field.type in TEXT_TYPES | ID_TYPES:
                    hints.append((field.name, frozenset(self.literal(field, v, "=") for v in c.values)))
        return tuple(hints)


def _conjuncts(cond: Condition) -> Iterable[Condition]:
    """The top-level AND members, flattening parenthesized ANDs: ``(a AND b) AND c`` is a, b, c."""
    if isinstance(cond, And):
        for operand in cond.operands:
            yield from _conjuncts(operand)
    else:
        yield cond


def bind(query: Query, objects: Mapping[str, ObjectDef] = OBJECTS) -> BoundQuery:
    """Resolve names and check literal types against the schema (Salesforce checks the object first)."""
    from .index_plan import union_hints  # (it uses this module's condition types)

    sobject = objects.get(query.sobject.text.lower())
    if sobject is None:
        raise ApiError(
            400,
            "INVALID_TYPE",
            _located(
                query.text,
                query.sobject.line,
                query.sobject.column,
                f"sObject type '{query.sobject.text}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            ),
        )
    binder = _Binder(query, sobject)
    fields: list[FieldDef] = []
    seen: set[str] = set()
    for name in query.fields:
        field = binder.field(name)
        if field.name in seen:
            raise binder.error("MALFORMED_QUERY", name.line, name.column, f"duplicate field selected: {field.name}")
        seen.add(field.name)
        fields.append(field)
    predicate = binder.condition(query.where) if query.where is not None else None
    order: list[tuple[FieldDef, bool, bool]] = []
    for item in query.order_by:
        field = binder.field(item.field)
        if not field.sortable:
            raise binder.error(
                "INVALID_FIELD",
                item.field.line,
                item.field.column,
                f"field '{field.name}' can not be sorted in a query call",
            )
        order.append((field, item.descending, item.nulls_last))
    return BoundQuery(
        sobject=sobject,
        fields=tuple(fields),
        predicate=predicate,
        order_by=tuple(order),
        limit=query.limit,
        index_hints=binder.index_hints(query.where),
        union_hints=union_hints(binder, query.where),
    )


def compile_query(text: str, objects: Mapping[str, ObjectDef] = OBJECTS) -> BoundQuery:
    """``parse`` then ``bind``."""
    return bind(parse(text), objects)


# ---------------------------------------------------------------------------------------------- evaluation


def _normalizer(field: FieldDef) -> Callable[[Any], Any]:
    if field.type in TEXT_TYPES:
        return lambda v: v.casefold()
    return lambda v: v


def _compare(field: FieldDef, op: str, literal: Any) -> Predicate:
    name = field.name
    norm = _normalizer(field)
    if literal is None:
        if op == "=":
            return lambda r: r.get(name) is None
        return lambda r: r.get(name) is not None

    def eq(r: Record) -> bool:
        v = r.get(name)
        return v is not None and norm(v) == literal

    if op == "=":
        return eq
    if op == "!=":
        return lambda r: not eq(r)
    ordering: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: bool(a < b),
        "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b),
        ">=": lambda a, b: bool(a >= b),
    }
    cmp = ordering[op]

    def ordered(r: Record) -> bool:
        v = r.get(name)
        return v is not None and cmp(norm(v), literal)

    return ordered


def _in_list(field: FieldDef, values: frozenset[Any], negated: bool) -> Predicate:
    name = field.name
    norm = _normalizer(field)
    has_null = None in values

    def member(r: Record) -> bool:
        v = r.get(name)
        if v is None:
            return has_null
        return norm(v) in values

    if negated:
        return lambda r: not member(r)
    return member


def like_to_regex(raw: str) -> re.Pattern[str]:
    """A LIKE pattern (raw literal body) as a case-insensitive regex: ``%`` any run, ``_`` one character,
    ``\\%``/``\\_`` themselves, other escapes as in string literals."""
    parts: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in "%_":
            parts.append(re.escape(raw[i + 1]))
            i += 2
        elif ch == "\\":
            # Decode one ordinary escape (raises ValueError on an illegal one).
            j = i + 6 if raw[i + 1 : i + 2].lower() == "u" else i + 2
            parts.append(re.escape(unescape(raw[i:j])))
            i = j
        elif ch == "%":
            parts.append(".*")
            i += 1
        elif ch == "_":
            parts.append(".")
            i += 1
        else:
            parts.append(re.escape(ch))
            i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _like(field: FieldDef, regex: re.Pattern[str]) -> Predicate:
    name = field.name
    match = regex.fullmatch

    def pred(r: Record) -> bool:
        v = r.get(name)
        return v is not None and match(v) is not None

    return pred
