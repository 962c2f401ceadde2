"""Index use for WHERE clauses whose top level is an OR, so that a query never scans every record
when each of its alternatives names dealer codes (or ids) the store has an index for.

The integration's extract asks ``(codes IN (...) AND since) OR (other codes IN (...) AND open)
OR (Dealer_Code__c LIKE '%<no-break space>' OR ... AND since)``: each alternative narrows by the
dealer-code index, a ``LIKE`` by matching the index's keys (one per dealer code, not one per lead).
The predicate still checks every candidate: an index only ever narrows.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .schema import ID_TYPES, TEXT_TYPES

if TYPE_CHECKING:
    from .soql import Condition, _Binder

#: One alternative: (canonical field name, exact normalized values, LIKE patterns).
Hint = tuple[str, frozenset[str], tuple[re.Pattern[str], ...]]


def union_hints(binder: _Binder, cond: Condition | None) -> tuple[Hint, ...] | None:
    """Per alternative of a top-level OR, one condition an index can answer; None when any
    alternative has none (then the store scans)."""
    from .soql import Or

    if cond is None:
        return None
    hints = []
    for operand in cond.operands if isinstance(cond, Or) else (cond,):
        hint = _alternative(binder, operand)
        if hint is None:
            return None
        hints.append(hint)
    return tuple(hints)


def _alternative(binder: _Binder, cond: Condition) -> Hint | None:
    from .soql import _conjuncts

    for conjunct in _conjuncts(cond):
        hint = _single(binder, conjunct)
        if hint is not None:
            return hint
    return None


def _single(binder: _Binder, cond: Condition) -> Hint | None:
    from .soql import Compare, InList, Like, Or, like_to_regex

    if isinstance(cond, Compare) and cond.op == "=" and cond.value.kind == "string":
        field = binder.field(cond.field)
        if field.type in TEXT_TYPES | ID_TYPES:
            return field.name, frozenset({binder.literal(field, cond.value, "=")}), ()
    elif isinstance(cond, InList) and not cond.negated and all(v.kind == "string" for v in cond.values):
        field = binder.field(cond.field)
        if field.type in TEXT_TYPES | ID_TYPES:
            return field.name, frozenset(binder.literal(field, v, "=") for v in cond.values), ()
    elif isinstance(cond, Like):
        field = binder.field(cond.field)
        if field.type in TEXT_TYPES:
            return field.name, frozenset(), (like_to_regex(cond.raw),)
    elif isinstance(cond, Or):
        parts = [_single(binder, operand) for operand in cond.operands]
        names = {part[0] for part in parts if part is not None}
        if all(part is not None for part in parts) and len(names) == 1:
            return (
                names.pop(),
                frozenset().union(*(p[1] for p in parts if p is not None)),
                tuple(r for p in parts if p is not None for r in p[2]),
            )
    return None
