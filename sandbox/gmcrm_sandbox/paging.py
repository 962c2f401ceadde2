"""Query results in pages: snapshots of the matched rows behind ``nextRecordsUrl`` locators.

As in Salesforce: at most 2,000 records a page (``batchSize`` 200 to 2,000 honoured), a locator
``<cursor id>-<offset>`` under ``/services/data/vNN.N/query/`` (also for queryAll), at most 10 open cursors
per user (the oldest is released). Not thread-safe on its own: the org calls it under its lock.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from . import ids, timefmt
from .errors import ApiError
from .schema import ObjectDef

DEFAULT_BATCH: Final = 2000
MIN_BATCH: Final = 200
MAX_CURSORS: Final = 10
# The pod of cursor ids (``01g`` is the key prefix of query locators).
_CURSOR_POD: Final = "0Q"

Row = tuple[str, tuple[Any, ...]]


def clamp_batch(size: int | None) -> int:
    """Salesforce honours batchSize between 200 and 2,000 and uses 2,000 without one."""
    if size is None:
        return DEFAULT_BATCH
    return min(max(size, MIN_BATCH), DEFAULT_BATCH)


@dataclass(slots=True)
class Cursor:
    id: str
    sobject: ObjectDef
    field_names: tuple[str, ...]
    # (record Id, selected values) per row: values are immutable, so this is a true snapshot.
    rows: Sequence[Row]
    batch_size: int


class Cursors:
    """Open cursors, most recently used last."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._seq = itertools.count(1)

    def first_page(
        self,
        sobject: ObjectDef,
        field_names: tuple[str, ...],
        rows: Sequence[Row],
        batch_size: int | None,
        version: str,
    ) -> dict[str, Any]:
        """The first page; the cursor is kept only while more pages remain."""
        cursor = Cursor(
            ids.make_id("01g", _CURSOR_POD, next(self._seq)), sobject, field_names, rows, clamp_batch(batch_size)
        )
        page = render_page(cursor, 0, cursor.batch_size, version)
        if not page["done"]:
            self._open[cursor.id] = cursor
            while len(self._open) > MAX_CURSORS:
                self._open.popitem(last=False)
        return page

    def next_page(self, locator: str, batch_size: int | None, version: str) -> dict[str, Any]:
        """The page at a locator; ``INVALID_QUERY_LOCATOR`` for an unknown or released cursor."""
        cursor_id, _, offset_text = locator.partition("-")
        cursor = self._open.get(cursor_id)
        if cursor is None or not offset_text.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self._open.move_to_end(cursor_id)
        size = clamp_batch(batch_size) if batch_size is not None else cursor.batch_size
        return render_page(cursor, int(offset_text), size, version)


def render_page(cursor: Cursor, offset: int, size: int, version: str) -> dict[str, Any]:
    """``{"totalSize", "done", ["nextRecordsUrl"], "records"}`` as Salesforce returns it."""
    chunk = cursor.rows[offset : offset + size]
    obj_name = cursor.sobject.name
    names = cursor.field_names
    fmap = cursor.sobject.field_map()
    # Only datetime columns need converting; the rest is JSON already. (Hot path: 2,000 rows a page.)
    datetime_columns = [n for n in names if fmap[n.lower()].type == "datetime"]
    fmt = timefmt.format_sf
    url_prefix = f"/services/data/v{version}/sobjects/{obj_name}/"
    records: list[dict[str, Any]] = []
    for record_id, values in chunk:
        rec: dict[str, Any] = {"attributes": {"type": obj_name, "url": url_prefix + record_id}}
        rec.update(zip(names, values, strict=True))
        for name in datetime_columns:
            value = rec[name]
            if value is not None:
                rec[name] = fmt(value)
        records.append(rec)
    end = offset + len(chunk)
    body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
    if not body["done"]:
        body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor.id}-{end}"
    body["records"] = records
    return body
