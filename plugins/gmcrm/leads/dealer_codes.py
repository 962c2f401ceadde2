"""Dealer codes as GM writes them: which dealership a record's code names, and how to ask GM for the
records whose code carries spaces SOQL's ``IN`` cannot match.

Salesforce trims leading and trailing ASCII whitespace from text fields on save, and SOQL compares
text without case, so ``Dealer_Code__c IN ('BR0001')`` already returns ``'br0001'``. What survives a
save is other Unicode whitespace (a no-break space pasted from a spreadsheet, an ideographic space):
``'BR0001\\u00a0'`` is BR0001's lead, but ``IN`` never returns it. One extra condition per extract,
``Dealer_Code__c LIKE '%<space>'`` or ``LIKE '<space>%'`` for each such space, returns them; the
extract then stages each under the dealership whose :func:`dealer_key` it has.
"""

from __future__ import annotations

from typing import Final

from simple_salesforce import format_soql

#: Whitespace that ``str.strip()`` removes but a Salesforce save keeps: every character ``str.isspace``
#: calls a space that is not ASCII whitespace (a unit test checks the list against Python's own).
UNICODE_SPACES: Final[str] = (
    "\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def dealer_key(code: str) -> str:
    """The comparable form of a dealer code: trimmed of any whitespace, case folded. The transform
    compares a record's code with its dealership's the same way (``str.strip().casefold()``)."""
    return code.strip().casefold()


def odd_code_condition(field: str) -> str:
    """A SOQL condition true for the codes that start or end with a space :data:`UNICODE_SPACES` holds
    (values escaped by ``format_soql``)."""
    terms = []
    for ch in UNICODE_SPACES:
        terms.append(format_soql(f"{field} LIKE '%{{:like}}'", ch))
        terms.append(format_soql(f"{field} LIKE '{{:like}}%'", ch))
    return "(" + " OR ".join(terms) + ")"
