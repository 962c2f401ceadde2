"""One pass over the leads of many dealerships: :func:`transform_group`, the transform's entry point.

A call costs 10-25 ms whatever its size, so a thousand small dealerships are one call, not a thousand
(100,000 leads of 1,000 dealerships: about 2 s instead of 25 s on the dev machine). Each row gets its
dealership's index; the settings that depend on the dealership and the lead type (receiving user,
department, contact type and subtype) are small tables indexed by (dealership, lead type), the routing
and traffic origin by dealership. The output rows are taken dealership by dealership, so that each
dealership's frames are slices of the whole; the loader keeps them whole (:class:`GroupResult`), and
:meth:`GroupResult.by_dealer` cuts them (making 3,000 small frames, and the garbage collection their
objects set off, is about a third of a call).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.transform import keys, rules
from gmcrm.leads.transform.columns import Leads
from gmcrm.leads.transform.context import DealerContext, Dealers
from gmcrm.leads.transform.kernels import (
    BoolArray,
    Coded,
    IntArray,
    ObjArray,
    empty_frame,
    flags,
    present,
    string_array,
    timestamps,
)
from gmcrm.leads.transform.output import lead_frame, quarantine_frame
from gmcrm.leads.transform.schema import DELETED_COLUMNS, INPUT_COLUMNS, LEAD_COLUMNS, QUARANTINE_COLUMNS


@dataclass(frozen=True, eq=False)
class TransformResult:
    """One dealership's leads transformed (:meth:`GroupResult.by_dealer`)."""

    leads: pd.DataFrame
    quarantine: pd.DataFrame
    deleted: pd.DataFrame
    #: Rows dropped because a newer row of the same lead was in the batch.
    duplicates: int = 0


def transform_group(raw: pd.DataFrame, contexts: Mapping[str, DealerContext], mapping: GmMapping) -> GroupResult:
    """Leads read from GM for the dealerships of ``contexts`` (keyed by their ``dealer_code``) -> loadable
    leads, quarantine and deletions, in one pass.

    A row belongs to the context whose dealer code its ``dealer_code`` is (trimmed, compared
    case-insensitively); duplicates are found per dealership. Rows of a dealer code that no context has:
    with ONE context they are that dealership's ``DEALER_MISMATCH`` quarantine; with several they could
    belong to no dealership, so a ``ValueError`` names their codes and nothing is transformed. The import
    never passes such rows: it reads staging by dealer code, and staging holds each record under its own.
    """
    batch = _transform_batch(raw, contexts, mapping)
    codes = np.asarray(batch.codes, dtype=object)
    return GroupResult(
        codes=batch.codes,
        leads=batch.leads.reset_index(drop=True),
        quarantine=batch.quarantine.reset_index(drop=True).assign(
            dealer_code=string_array(codes[batch.quarantine_group])
        ),
        deleted=batch.deleted.assign(dealer_code=string_array(codes[batch.deleted_group])),
        duplicates=dict(zip(batch.codes, batch.duplicates, strict=True)),
        _batch=batch,
    )


@dataclass(frozen=True, eq=False)
class GroupResult:
    """:func:`transform_group`'s result. Each frame holds the rows of every dealership (dealership by
    dealership, input order within one) with a ``dealer_code`` column; ``duplicates`` is per dealer
    code. :meth:`by_dealer` gives it cut by dealership."""

    codes: tuple[str, ...]
    leads: pd.DataFrame
    quarantine: pd.DataFrame
    deleted: pd.DataFrame
    duplicates: dict[str, int]
    _batch: _Batch = field(repr=False)

    def by_dealer(self) -> dict[str, TransformResult]:
        """Per dealer code (every key of the contexts, in their order), what the transform gives for that
        dealership's rows alone, each frame with a RangeIndex and the columns of
        :data:`~gmcrm.leads.transform.schema.LEAD_COLUMNS`, ``QUARANTINE_COLUMNS``, ``DELETED_COLUMNS``."""
        batch = self._batch
        count = len(batch.codes)
        parts = zip(
            _split(batch.leads, batch.leads_group, count),
            _split(batch.quarantine, batch.quarantine_group, count),
            _split(batch.deleted, batch.deleted_group, count),
            batch.duplicates,
            strict=True,
        )
        return {
            code: TransformResult(leads=part, quarantine=quarantine, deleted=gone, duplicates=duplicates)
            for code, (part, quarantine, gone, duplicates) in zip(batch.codes, parts, strict=True)
        }


@dataclass(frozen=True)
class _Batch:
    """What the transform gives, before it is kept whole or cut by dealership: the rows of each frame
    dealership by dealership (``*_group``: each row's index into ``codes``), the duplicates per
    dealership."""

    codes: tuple[str, ...]
    leads: pd.DataFrame
    leads_group: IntArray
    quarantine: pd.DataFrame
    quarantine_group: IntArray
    deleted: pd.DataFrame
    deleted_group: IntArray
    duplicates: list[int]


def _transform_batch(raw: pd.DataFrame, contexts: Mapping[str, DealerContext], mapping: GmMapping) -> _Batch:
    dealers = Dealers.of(contexts)
    count = len(dealers.codes)
    frame = raw.reindex(columns=[*INPUT_COLUMNS, *(["raw_record"] if "raw_record" in raw else [])])
    frame = frame.reset_index(drop=True)
    if frame.empty:
        none = np.zeros(0, dtype=np.int64)
        empty = (empty_frame(LEAD_COLUMNS), empty_frame(QUARANTINE_COLUMNS), empty_frame(DELETED_COLUMNS))
        return _Batch(dealers.codes, empty[0], none, empty[1], none, empty[2], none, [0] * count)
    dealer = Coded.of(frame["dealer_code"])
    group, dealer_ok = dealers.assign(dealer)
    ids, ids_ok = keys.lead_ids(frame["lead_id"])
    stamps = timestamps(frame["modstamp"])
    newest = _newest(ids, group, stamps)
    gone = flags(frame["is_deleted"])
    live = newest & ~gone

    # Every column is worked out for all rows (a row dropped here is rare; indexing costs a pass).
    leads = Leads(frame, ids, ids_ok, dealer, group, dealer_ok, dealers, mapping)
    problems = rules.problems(leads)
    bad = np.zeros(len(frame), dtype=bool)
    for _, failing, _ in problems:
        bad |= failing
    bad &= live
    # The output rows are taken dealership by dealership (in input order within one), so that each
    # dealership's rows are one slice of the whole.
    loadable, held, deleted = (
        _by_group(rows, group, count) for rows in (live & ~bad, bad, newest & gone & present(ids))
    )
    return _Batch(
        codes=dealers.codes,
        leads=lead_frame(leads, loadable, stamps, timestamps(frame["created_at"])),
        leads_group=group[loadable],
        quarantine=quarantine_frame(frame, leads, stamps, problems, held, mapping),
        quarantine_group=group[held],
        deleted=pd.DataFrame({"lead_id": string_array(ids[deleted]), "gm_modstamp": stamps.array[deleted]}),
        deleted_group=group[deleted],
        duplicates=np.bincount(group[~newest], minlength=count).tolist(),
    )


def _by_group(rows: BoolArray, groups: IntArray, count: int) -> IntArray:
    """The positions of ``rows``, those of dealership 0 first, then 1...; in input order within one."""
    idx = np.flatnonzero(rows)
    return idx if count == 1 else idx[np.argsort(groups[idx], kind="stable")]


def _split(frame: pd.DataFrame, groups: IntArray, count: int) -> list[pd.DataFrame]:
    """``frame`` (its rows ordered by ``groups``, 0 .. count-1) cut into one frame per group, each with
    a RangeIndex. A slice is a frame of its own (copy-on-write): setting its index changes no other."""
    if count == 1:
        return [frame]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(groups, minlength=count)))).tolist()
    empty = frame.iloc[0:0]
    parts = []
    for start, stop in itertools.pairwise(bounds):
        if start == stop:  # (most dealerships have no quarantine and no deletions: half the cost)
            parts.append(empty.copy(deep=False))
            continue
        part = frame.iloc[start:stop]
        part.index = pd.RangeIndex(stop - start)
        parts.append(part)
    return parts


def _newest(lead_ids: ObjArray, groups: IntArray, stamps: pd.Series) -> BoolArray:
    """The rows to keep: per lead of a dealership the newest stamp (on a tie the row read last). Rows
    without a lead id are all kept (they are quarantined)."""
    codes, uniques = pd.factorize(lead_ids)  # missing ids: -1
    keys = pd.Series(np.where(codes < 0, -1, groups * max(len(uniques), 1) + codes))
    keep = np.ones(len(keys), dtype=bool)
    if not keys.duplicated().any():
        return keep
    ticks = stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").view(np.int64)  # NaT lowest
    order = np.argsort(ticks, kind="stable")
    in_order = keys.iloc[order]
    keep[order] = ~(in_order.duplicated(keep="last").to_numpy() & (in_order.to_numpy() >= 0))
    return keep
