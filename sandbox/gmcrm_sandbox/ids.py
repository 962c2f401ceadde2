"""Salesforce record ids: 15 case-sensitive characters plus a 3-character checksum.

The checksum makes an 18-character id safe in case-insensitive places. Clients compare and store ids, so
the sandbox produces real-looking ones (the manual's example is ``006WD00000H4eBaYAJ``).
"""

from __future__ import annotations

import functools
import string
from typing import Final

BASE62: Final = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM_ALPHABET: Final = string.ascii_uppercase + "012345"
_ID_CHARS: Final = frozenset(BASE62)


# Upper-case letters to "1", everything else to "0"; then each 5-character chunk of bits (read right to
# left, first character = lowest bit) names a checksum character. Both as tables: ids are made by the
# hundred thousand when benchmarks generate leads.
_UPPER_BITS: Final = str.maketrans({c: "1" if c in string.ascii_uppercase else "0" for c in BASE62})
_CHUNK_CHAR: Final = {format(n, "05b")[::-1]: _CHECKSUM_ALPHABET[n] for n in range(32)}
_PAIRS: Final = [a + b for a in BASE62 for b in BASE62]


def checksum(id15: str) -> str:
    """The 3-character suffix: per 5-character chunk, a bit for every upper-case letter."""
    bits = id15.translate(_UPPER_BITS)
    return _CHUNK_CHAR[bits[:5]] + _CHUNK_CHAR[bits[5:10]] + _CHUNK_CHAR[bits[10:15]]


@functools.lru_cache(maxsize=1 << 17)
def to_18(id_: str) -> str | None:
    """The canonical 18-character form of a 15- or 18-character id, or None when it is not an id.

    An 18-character id is re-checksummed from its first 15 characters: Salesforce accepts the suffix in any
    case, so two spellings of the same id must compare equal. Cached: the same ids come back all the time.
    """
    if len(id_) not in (15, 18) or not set(id_[:15]) <= _ID_CHARS:
        return None
    head = id_[:15]
    if len(id_) == 18 and id_[15:].upper() != checksum(head):
        return None
    return head + checksum(head)


def base62(number: int, width: int) -> str:
    """``number`` in base 62, left-padded with zeros to ``width``."""
    if number < 0 or number >= 62**width:
        raise ValueError("number does not fit the width")
    if width == 6:  # the id case: three table lookups
        return _PAIRS[number // 14776336] + _PAIRS[number // 3844 % 3844] + _PAIRS[number % 3844]
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(BASE62[rem])
    return "".join(reversed(chars))


def make_id(prefix: str, pod: str, sequence: int) -> str:
    """An 18-character id: key prefix (3), pod (2), reserved zeros, a base-62 sequence, the checksum.

    Real ids look like this too: ``006`` + ``WD`` + ``0000`` + ``0H4eBa`` + ``YAJ``.
    """
    if len(prefix) != 3 or len(pod) != 2:
        raise ValueError("prefix must have 3 characters and pod 2")
    head = prefix + pod + "0000" + base62(sequence, 6)
    return head + checksum(head)
