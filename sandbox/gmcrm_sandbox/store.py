"""The org's data: leads, lead events and their receipts, query cursors, the server clock.

One ``Org`` per server process. Every public method takes the data lock: the admin API and the REST API
are served concurrently (handlers run in worker threads). Lookups are dicts keyed by Id, with indexes by
dealer code, external id and lead, so that large benchmarks stay fast. Tokens, usage and call counters
(``access.py``) and injected faults (``faults.py``) hang off the org with their own locks.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from . import events as ev
from . import graph, ids, records, soql, timefmt
from .access import GM_USER_ID, USER_ID, Access
from .errors import AdminError, ApiError, record_error
from .faults import FaultBook
from .generate import generate_leads
from .paging import Cursors
from .schema import DISPOSITION_UPDATE, LEAD_EVENT, OBJECTS, OPPORTUNITY, OPPORTUNITY_FIELDS, FieldDef, ObjectDef

# Pods (2 characters after the key prefix) of ids the sandbox makes itself. Digit-first, so they never
# collide with generated leads, whose pods are two letters.
_LEAD_POD: Final = "0S"
_EVENT_POD: Final = "1S"


@dataclass(frozen=True, slots=True)
class OrgConfig:
    """How the org starts, and what ``reset`` returns it to."""

    client_id: str = "gmcrm"
    client_secret: str = "sandbox-secret"  # noqa: S105 - the sandbox's documented default, not a secret
    daily_limit: int = 15000
    seed: int = 42
    dealer_codes: tuple[str, ...] = ()
    leads_per_dealer: int = 0


@dataclass(slots=True)
class _EventMeta:
    order: int
    receipts: int
    applied: bool
    first_received_at: datetime
    last_received_at: datetime


class Org:
    """The in-memory GM CRM org: its data under one lock, plus ``access`` (tokens, usage, call counts) and
    ``faults``, which have their own locks because every call passes through them first."""

    def __init__(self, config: OrgConfig, *, generated_at: datetime | None = None) -> None:
        self.config = config
        self.access = Access(config.client_id, config.client_secret, config.daily_limit)
        self.faults = FaultBook()
        self._lock = threading.RLock()
        self._fixed_now: datetime | None = None
        # Generation uses the start time, also on reset, so that a reset reproduces the start exactly.
        self._generated_at = timefmt.whole_seconds(generated_at or datetime.now(UTC))
        self._id_counter = itertools.count(1)
        self._init_data()
        self._load_initial()

    # ------------------------------------------------------------------------------------------- clock

    def now(self) -> datetime:
        """Server time, whole seconds (what SystemModstamp gets)."""
        with self._lock:
            if self._fixed_now is not None:
                return self._fixed_now
        return timefmt.whole_seconds(datetime.now(UTC))

    def set_clock(self, fixed: datetime | None = None, advance_seconds: float = 0.0) -> datetime:
        """Freeze the clock at ``fixed``, move a frozen clock on, or (neither) go back to real time."""
        with self._lock:
            if fixed is not None:
                self._fixed_now = timefmt.whole_seconds(fixed)
            elif advance_seconds:
                base = self._fixed_now or timefmt.whole_seconds(datetime.now(UTC))
                self._fixed_now = base + timedelta(seconds=int(advance_seconds))
            else:
                self._fixed_now = None
            return self.now()

    # -------------------------------------------------------------------------------------------- data

    def _init_data(self) -> None:
        self._leads: dict[str, dict[str, Any]] = {}
        self._by_dealer: dict[str, dict[str, None]] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self._event_by_ext: dict[str, str] = {}
        self._events_by_lead: dict[str, dict[str, None]] = {}
        self._event_meta: dict[str, _EventMeta] = {}
        self._receipts: list[dict[str, Any]] = []
        # When each lead was last changed by one of GM's users and by the API (the integration user): what
        # the admin API's ``changes`` reports, so a benchmark can compare leads read with leads changed.
        self._changed_by_gm: dict[str, datetime] = {}
        self._changed_by_api: dict[str, datetime] = {}
        self._collection_calls = 0
        self._cursors = Cursors()

    def _load_initial(self) -> None:
        if self.config.dealer_codes and self.config.leads_per_dealer > 0:
            self._load_trusted(
                generate_leads(
                    self.config.seed, self.config.dealer_codes, self.config.leads_per_dealer, self._generated_at
                )
            )

    def _load_trusted(self, leads: Iterable[dict[str, Any]]) -> int:
        """Insert generated leads as they are (already internal values): no coercion, for speed."""
        n = 0
        for lead in leads:
            self._put_lead(lead)
            self._note_change(lead)
            n += 1
        return n

    def _note_change(self, lead: Mapping[str, Any]) -> None:
        """Remember who changed a lead last, and when (a user's change: LastModifiedDate)."""
        when = lead.get("LastModifiedDate") or lead.get("SystemModstamp")
        if when is None:
            return
        side = self._changed_by_api if lead.get("LastModifiedById") == USER_ID else self._changed_by_gm
        side[lead["Id"]] = when

    def _put_lead(self, lead: dict[str, Any]) -> None:
        old = self._leads.get(lead["Id"])
        if old is not None:
            self._unindex_dealer(old)
        self._leads[lead["Id"]] = lead
        key = str(lead.get("Dealer_Code__c") or "").casefold()
        self._by_dealer.setdefault(key, {})[lead["Id"]] = None

    def _unindex_dealer(self, lead: Mapping[str, Any]) -> None:
        key = str(lead.get("Dealer_Code__c") or "").casefold()
        bucket = self._by_dealer.get(key)
        if bucket is not None:
            bucket.pop(lead["Id"], None)

    def _new_id(self, prefix: str, pod: str) -> str:
        return ids.make_id(prefix, pod, next(self._id_counter))

    def reset(self, empty: bool = False) -> dict[str, Any]:
        """Back to the start: generated leads (or none), no events, counters zero, faults cleared, usage 0,
        daily limit as configured at start, real clock. Tokens stay valid: a reset is not a sign-out."""
        with self._lock:
            self._init_data()
            self.access.reset()
            self._fixed_now = None
            self.faults.clear()
            if not empty:
                self._load_initial()
            return {"leads": len(self._leads)}

    def generate(
        self,
        seed: int,
        dealer_codes: Sequence[str],
        leads_per_dealer: int,
        now: datetime | None = None,
        *,
        arrived_now: bool = False,
    ) -> int:
        """Add generated leads (replacing any with the same Id). ``arrived_now``: created and modified
        at ``now``, as new leads arriving at GM between two imports (generated leads are otherwise
        stamped over the past weeks, older than an incremental import's watermark)."""
        at = timefmt.whole_seconds(now) if now is not None else self.now()
        leads = generate_leads(seed, dealer_codes, leads_per_dealer, at)
        if arrived_now:
            for lead in leads:
                lead["CreatedDate"] = lead["SystemModstamp"] = at
        with self._lock:
            return self._load_trusted(leads)

    # -------------------------------------------------------------------------------------- admin: leads

    def _coerce_lead_fields(self, values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            fdef = OPPORTUNITY_FIELDS.get(key.lower())
            if fdef is None:
                raise AdminError(400, f"unknown Opportunity field: {key}")
            if fdef.name == "Id" and not creating:
                raise AdminError(400, "Id cannot be changed")
            try:
                out[fdef.name] = records.coerce_value(fdef, value)
            except records.CoercionError as exc:
                raise AdminError(400, f"{exc.field}: {exc.message}") from None
        if "Id" in out and (out["Id"] is None or not str(out["Id"]).startswith(OPPORTUNITY.key_prefix)):
            raise AdminError(400, f"an Opportunity Id starts with {OPPORTUNITY.key_prefix}")
        if "IsDeleted" in out and out["IsDeleted"] is None:
            raise AdminError(400, "IsDeleted cannot be null")
        return out

    def create_leads(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Create leads from admin input (all or none). Missing: Id (made up), StageName (New),
        CreatedDate/SystemModstamp (now), IsDeleted (false)."""
        with self._lock:
            now = self.now()
            prepared: list[dict[str, Any]] = []
            seen: set[str] = set()
            for item in items:
                fields = self._coerce_lead_fields(item, creating=True)
                lead: dict[str, Any] = dict.fromkeys(OPPORTUNITY_FIELDS_ORDER)
                lead.update(
                    {
                        "StageName": "New",
                        "CreatedDate": now,
                        "CreatedById": GM_USER_ID,
                        "LastModifiedDate": now,
                        "LastModifiedById": GM_USER_ID,
                        "SystemModstamp": now,
                        "IsDeleted": False,
                    }
                )
                lead.update(fields)
                if lead["Id"] is None:
                    lead["Id"] = self._new_id(OPPORTUNITY.key_prefix, _LEAD_POD)
                if lead["Id"] in self._leads or lead["Id"] in seen:
                    raise AdminError(409, f"a lead with Id {lead['Id']} already exists")
                seen.add(lead["Id"])
                prepared.append(lead)
            for lead in prepared:
                self._put_lead(lead)
                self._note_change(lead)
            return [records.plain(OPPORTUNITY, lead) for lead in prepared]

    def update_lead(self, lead_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change fields of a lead, as one of GM's users (``LastModifiedById``: GM's user unless the change
        names another). SystemModstamp and LastModifiedDate move to now unless the change sets them
        explicitly (to simulate a late commit: a change that becomes visible with an older stamp)."""
        with self._lock:
            lead = self._lead_or_404(lead_id)
            fields = self._coerce_lead_fields(changes, creating=False)
            updated = {**lead, **fields}
            if "SystemModstamp" not in fields:
                updated["SystemModstamp"] = self.now()
            updated.setdefault("LastModifiedById", None)
            if "LastModifiedById" not in fields:
                updated["LastModifiedById"] = GM_USER_ID
            if "LastModifiedDate" not in fields:
                updated["LastModifiedDate"] = updated["SystemModstamp"]
            self._put_lead(updated)
            self._note_change(updated)
            return records.plain(OPPORTUNITY, updated)

    def delete_lead(self, lead_id: str) -> dict[str, Any]:
        """Soft delete, as Salesforce's recycle bin: IsDeleted true, visible only through queryAll."""
        return self.update_lead(lead_id, {"IsDeleted": True})

    def get_lead(self, lead_id: str) -> dict[str, Any]:
        with self._lock:
            return records.plain(OPPORTUNITY, self._lead_or_404(lead_id))

    def list_leads(self, dealer_code: str | None = None, include_deleted: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            if dealer_code is None:
                source: Iterable[dict[str, Any]] = self._leads.values()
            else:
                source = (self._leads[i] for i in self._by_dealer.get(dealer_code.casefold(), {}))
            return [records.plain(OPPORTUNITY, lead) for lead in source if include_deleted or not lead.get("IsDeleted")]

    def count_changed_leads(self, since: datetime) -> int:
        """Leads (deleted ones too) whose SystemModstamp is after ``since``: what an import reads, without
        its look-back."""
        with self._lock:
            return sum(1 for lead in self._leads.values() if lead["SystemModstamp"] > since)

    def _lead_or_404(self, lead_id: str) -> dict[str, Any]:
        canonical = ids.to_18(lead_id)
        lead = self._leads.get(canonical) if canonical else None
        if lead is None:
            raise AdminError(404, f"no lead {lead_id}")
        return lead

    # ------------------------------------------------------------------------------------------- faults

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Inject a fault (see ``faults.py``); ``expire_sessions`` and ``daily_limit`` act at once, and
        ``refuse_sessions`` expires the sessions at once, then refuses the next sign-ins' tokens."""
        kind = spec.get("kind")
        if kind == "expire_sessions":
            return {"kind": kind, "expired": self.access.expire_sessions()}
        if kind == "daily_limit":
            return {"kind": kind, **self.access.exhaust()}
        fault = self.faults.add(spec)
        if kind == "refuse_sessions":
            return {**fault.describe(), "expired": self.access.expire_sessions()}
        return fault.describe()

    def clear_faults(self) -> dict[str, int]:
        return {"cleared": self.faults.clear()}

    # -------------------------------------------------------------------------------------------- query

    def _table(self, obj: ObjectDef) -> dict[str, dict[str, Any]]:
        return self._leads if obj is OPPORTUNITY else self._events

    def _candidates(self, query: soql.BoundQuery) -> Iterable[dict[str, Any]]:
        """The records a query must look at: through an index when a top-level conjunct allows it (the
        predicate still checks every candidate, so an index only ever narrows)."""
        table = self._table(query.sobject)
        for name, values in query.index_hints:
            if name == "Id":
                return [table[v] for v in values if v in table]
            if query.sobject is OPPORTUNITY and name == "Dealer_Code__c":
                return [self._leads[i] for v in sorted(values) for i in self._by_dealer.get(v, {})]
            if query.sobject is LEAD_EVENT and name == "Lead__c":
                return [self._events[i] for v in values for i in self._events_by_lead.get(v, {})]
        if query.union_hints is not None:
            found: dict[str, dict[str, Any]] = {}
            for name, values, patterns in query.union_hints:
                part = self._indexed(query.sobject, name, values, patterns)
                if part is None:
                    return table.values()
                found.update((record["Id"], record) for record in part)
            return found.values()
        return table.values()

    def _indexed(
        self, obj: ObjectDef, name: str, values: frozenset[str], patterns: tuple[re.Pattern[str], ...]
    ) -> list[dict[str, Any]] | None:
        """The records an index gives for ``name`` in ``values`` or LIKE one of ``patterns`` (None: no index)."""
        table = self._table(obj)
        if obj is OPPORTUNITY and name == "Dealer_Code__c":
            # A LIKE is matched against the index's keys (casefolded codes; the patterns ignore case).
            keys = sorted(values | {k for k in self._by_dealer if any(p.fullmatch(k) for p in patterns)})
            return [self._leads[i] for k in keys for i in self._by_dealer.get(k, {})]
        if patterns:
            return None
        if name == "Id":
            return [table[v] for v in values if v in table]
        if obj is LEAD_EVENT and name == "Lead__c":
            return [self._events[i] for v in values for i in self._events_by_lead.get(v, {})]
        return None

    def run_query(self, text: str, *, include_deleted: bool, batch_size: int | None, version: str) -> dict[str, Any]:
        """Run SOQL and return the first page (``ApiError`` for a bad query)."""
        bound = soql.compile_query(text)
        with self._lock:
            matched: list[Mapping[str, Any]] = []
            predicate = bound.predicate
            for record in self._candidates(bound):
                if not include_deleted and record.get("IsDeleted"):
                    continue
                if predicate is None or predicate(record):
                    matched.append(record)
            if bound.order_by:
                bound.sort(matched)
            if bound.limit is not None:
                matched = matched[: bound.limit]
            names = tuple(f.name for f in bound.fields)
            rows = [(r["Id"], tuple(r.get(n) for n in names)) for r in matched]
            return self._cursors.first_page(bound.sobject, names, rows, batch_size, version)

    def query_more(self, locator: str, *, batch_size: int | None, version: str) -> dict[str, Any]:
        """The page at a ``nextRecordsUrl`` locator (``<cursor id>-<offset>``)."""
        with self._lock:
            return self._cursors.next_page(locator, batch_size, version)

    # ------------------------------------------------------------------------------------ sObject reads

    def get_record(
        self, sobject: str, record_id: str, version: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """``GET sobjects/<type>/<id>``: every field (or the ``fields`` asked for)."""
        obj = _object(sobject)
        with self._lock:
            canonical = ids.to_18(record_id)
            record = self._table(obj).get(canonical) if canonical else None
            if record is None:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return records.render(obj, record, version, _select(obj, fields))

    def get_by_external_id(
        self, sobject: str, field_name: str, value: str, version: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """``GET sobjects/Lead_Event__c/DMS_Event_Id__c/<value>``."""
        obj = _object(sobject)
        fdef = obj.field_map().get(field_name.lower())
        if fdef is None or not fdef.external_id:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        with self._lock:
            event_id = self._event_by_ext.get(value)
            if event_id is None:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return records.render(obj, self._events[event_id], version, _select(obj, fields))

    # ------------------------------------------------------------------------------------------- events

    @staticmethod
    def _check_upsert_target(sobject: str, ext_field: str) -> None:
        """Only lead events are written, on their external id (the integration never writes leads)."""
        obj = _object(sobject)
        fdef = obj.field_map().get(ext_field.lower())
        if obj is not LEAD_EVENT or fdef is None or not fdef.external_id:
            raise ApiError(
                400, "INVALID_FIELD", f"Provided external ID field does not exist or is not accessible: {ext_field}"
            )

    def upsert_events(self, sobject: str, ext_field: str, body: bytes, user_id: str = USER_ID) -> list[dict[str, Any]]:
        """``PATCH composite/sobjects/<type>/<external id field>``: one result per record, in order."""
        self._check_upsert_target(sobject, ext_field)
        all_or_none, incoming = ev.parse_collection(body)
        with self._lock:
            return self._upsert(all_or_none, incoming, user_id)

    def upsert_event(
        self, sobject: str, ext_field: str, value: str, body: bytes, user_id: str = USER_ID
    ) -> tuple[int, dict[str, Any]]:
        """Single upsert ``PATCH sobjects/<type>/<external id field>/<value>``: 201 created, 200 updated; a
        record error is the whole request's error (400, array body), as Salesforce answers it."""
        self._check_upsert_target(sobject, ext_field)
        incoming = ev.parse_single(body, value)
        with self._lock:
            result = self._upsert(False, [incoming], user_id)[0]
        if not result["success"]:
            error = result["errors"][0]
            raise ApiError(400, error["statusCode"], error["message"], error["fields"])
        return (201 if result["created"] else 200), result

    def composite_graph(self, body: bytes, version: str, user_id: str = USER_ID) -> dict[str, Any]:
        """``POST composite/graph``: each graph all or nothing (:mod:`graph`); one answer per graph."""
        graphs = graph.parse_request(body)
        with self._lock:
            self._collection_calls += 1
            return graph.apply(self, graphs, version, self._collection_calls, user_id)

    def check_event(self, event: ev.IncomingEvent, duplicated: bool = False) -> dict[str, Any] | None:
        """The record error GM would answer for this event (validation, then an injected save error)."""
        error = ev.validate(event, self._leads)
        if error is None and duplicated:
            error = record_error(
                "DUPLICATE_VALUE",
                f"Duplicate external id specified: {event.dms_event_id}",
                ["DMS_Event_Id__c"],
            )
        if error is None:
            # Lock contention happens when the record is saved, so after validation passed.
            injected = self.faults.take_record_error(event.dms_event_id)
            if injected is not None:
                error = record_error(injected[0], injected[1], [])
        return error

    def _upsert(self, all_or_none: bool, incoming: list[ev.IncomingEvent], user_id: str) -> list[dict[str, Any]]:
        now = self.now()
        received_at = timefmt.format_sf(now)
        self._collection_calls += 1
        call_no = self._collection_calls
        counts = Counter(e.dms_event_id for e in incoming if e.dms_event_id is not None)
        errors: list[dict[str, Any] | None] = [
            self.check_event(event, event.dms_event_id is not None and counts[event.dms_event_id] > 1)
            for event in incoming
        ]
        rolled_back = all_or_none and any(e is not None for e in errors)
        results: list[dict[str, Any]] = []
        for event, error in zip(incoming, errors, strict=True):
            if error is None and rolled_back:
                error = record_error(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                    [],
                )
            if error is not None:
                result: dict[str, Any] = {"id": None, "success": False, "errors": [error]}
                self._receipt(call_no, received_at, event, result, applied=False)
                results.append(result)
                continue
            event_id, created, applied = self.save_event(event, now, user_id)
            result = {"id": event_id, "success": True, "errors": [], "created": created}
            self._receipt(call_no, received_at, event, result, applied=applied)
            results.append(result)
        return results

    def save_event(
        self, event: ev.IncomingEvent, now: datetime, user_id: str, undo: list[Callable[[], None]] | None = None
    ) -> tuple[str, bool, bool]:
        """Insert or update one valid event, as ``user_id``; (id, created, applied to the lead). With
        ``undo``, what reverses it is appended (a composite graph rolls its nodes back)."""
        dms_id = event.dms_event_id
        assert dms_id is not None  # validated: required
        fields = dict(event.fields)
        lead_id = event.lead_id
        assert lead_id is not None  # set by validation: a known lead
        fields["Lead__c"] = lead_id
        existing_id = self._event_by_ext.get(dms_id)
        if undo is not None:
            undo.append(self._undo_of(existing_id, lead_id))
        if existing_id is not None:
            # An update of the same event: stored fields change, the lead is NOT moved again. That is what
            # makes a resend harmless.
            record = self._events[existing_id]
            old_lead = record["Lead__c"]
            record.update(fields)
            record.update({"LastModifiedDate": now, "LastModifiedById": user_id, "SystemModstamp": now})
            if old_lead != lead_id:
                self._events_by_lead.get(old_lead, {}).pop(existing_id, None)
                self._events_by_lead.setdefault(lead_id, {})[existing_id] = None
            meta = self._event_meta[existing_id]
            meta.receipts += 1
            meta.last_received_at = now
            return existing_id, False, False
        event_id = self._new_id(LEAD_EVENT.key_prefix, _EVENT_POD)
        record = dict(_EVENT_TEMPLATE)
        record.update(fields)
        record.update(
            {
                "Id": event_id,
                "CreatedDate": now,
                "CreatedById": user_id,
                "LastModifiedDate": now,
                "LastModifiedById": user_id,
                "SystemModstamp": now,
                "IsDeleted": False,
            }
        )
        self._events[event_id] = record
        self._event_by_ext[dms_id] = event_id
        self._events_by_lead.setdefault(lead_id, {})[event_id] = None
        applied = fields.get("Communication__c") == DISPOSITION_UPDATE
        if applied:
            # GM's org applies DISPOSITION_UPDATEs to the Opportunity in the order it receives them, in the
            # same transaction and so as the same user: the Opportunity's last modifier becomes the
            # integration user, and both LastModifiedDate and SystemModstamp move.
            lead = self._leads[lead_id]
            lead["StageName"] = fields["Stage__c"]
            lead["Substage__c"] = fields.get("Substage__c")
            lead["LastModifiedDate"] = now
            lead["LastModifiedById"] = user_id
            lead["SystemModstamp"] = now
            self._note_change(lead)
        self._event_meta[event_id] = _EventMeta(len(self._event_meta), 1, applied, now, now)
        return event_id, True, applied

    def _undo_of(self, existing_id: str | None, lead_id: str) -> Callable[[], None]:
        """What puts the event (and its lead's stage) back as they are now."""
        lead = self._leads[lead_id]
        lead_before = {
            k: lead.get(k)
            for k in ("StageName", "Substage__c", "SystemModstamp", "LastModifiedDate", "LastModifiedById")
        }
        if existing_id is not None:
            record_before = dict(self._events[existing_id])
            meta = self._event_meta[existing_id]
            meta_before = (meta.receipts, meta.last_received_at)

            def undo_update() -> None:
                record = self._events[existing_id]
                if record["Lead__c"] != record_before["Lead__c"]:
                    self._events_by_lead.get(record["Lead__c"], {}).pop(existing_id, None)
                    self._events_by_lead.setdefault(record_before["Lead__c"], {})[existing_id] = None
                record.clear()
                record.update(record_before)
                meta.receipts, meta.last_received_at = meta_before
                lead.update(lead_before)

            return undo_update

        count_before = len(self._events)

        def undo_create() -> None:
            # Only ever the latest creations are undone (LIFO, under the lock): drop what came after.
            for event_id in list(self._events)[count_before:]:
                record = self._events.pop(event_id)
                self._event_by_ext.pop(str(record["DMS_Event_Id__c"]), None)
                self._events_by_lead.get(record["Lead__c"], {}).pop(event_id, None)
                self._event_meta.pop(event_id, None)
            lead.update(lead_before)

        return undo_create

    def receipt(self, call_no: int, received_at: str, event: ev.IncomingEvent, result: Mapping[str, Any]) -> None:
        """A receipt of a composite graph node (its final answer; applied only when it stayed)."""
        self._receipt(call_no, received_at, event, result, applied=bool(result.get("applied")))

    def _receipt(
        self, call_no: int, received_at: str, event: ev.IncomingEvent, result: Mapping[str, Any], *, applied: bool
    ) -> None:
        self._receipts.append(
            {
                "seq": len(self._receipts) + 1,
                "call": call_no,
                "received_at": received_at,
                "dms_event_id": event.dms_event_id,
                "lead_id": event.fields.get("Lead__c"),
                "event_id": result["id"],
                "success": result["success"],
                "created": result.get("created"),
                "applied": applied,
                "errors": result["errors"],
                "record": dict(event.sent),
            }
        )

    def list_events(self, lead_id: str | None = None) -> list[dict[str, Any]]:
        """Events received, in order of first receipt, with ``receipts`` and ``applied``."""
        with self._lock:
            if lead_id is None:
                selected: Iterable[str] = self._events
            else:
                selected = self._events_by_lead.get(ids.to_18(lead_id) or lead_id, {})
            out = []
            for event_id in sorted(selected, key=lambda i: self._event_meta[i].order):
                meta = self._event_meta[event_id]
                out.append(
                    {
                        **records.plain(LEAD_EVENT, self._events[event_id]),
                        "receipts": meta.receipts,
                        "applied": meta.applied,
                        "first_received_at": timefmt.format_sf(meta.first_received_at),
                        "last_received_at": timefmt.format_sf(meta.last_received_at),
                    }
                )
            return out

    def list_receipts(self, lead_id: str | None = None) -> list[dict[str, Any]]:
        """Every record of every collection call (resends and failures included), in order."""
        with self._lock:
            if lead_id is None:
                return [dict(r) for r in self._receipts]
            wanted = {lead_id, ids.to_18(lead_id) or lead_id}
            return [dict(r) for r in self._receipts if r["lead_id"] in wanted]

    def changes(self, since: datetime) -> dict[str, Any]:
        """How many leads GM's users and the API (the integration user) changed at or after ``since`` (a lead
        changed by both counts in both, and in ``leads_changed_by_both``)."""
        with self._lock:
            gm = {i for i, t in self._changed_by_gm.items() if t >= since}
            api = {i for i, t in self._changed_by_api.items() if t >= since}
            return {
                "since": timefmt.format_sf(since),
                "leads_changed_by_gm": len(gm),
                "leads_changed_by_api": len(api),
                "leads_changed_by_both": len(gm & api),
                "gm_user_id": GM_USER_ID,
                "api_user_id": USER_ID,
            }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"leads": len(self._leads), "events": len(self._events), "receipts": len(self._receipts)}


OPPORTUNITY_FIELDS_ORDER: Final[tuple[str, ...]] = tuple(f.name for f in OPPORTUNITY.fields)
# Every field present (None), in schema order: copied for each new event.
_EVENT_TEMPLATE: Final[dict[str, Any]] = dict.fromkeys(f.name for f in LEAD_EVENT.fields)


def _object(name: str) -> ObjectDef:
    obj = OBJECTS.get(name.lower())
    if obj is None:
        raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'")
    return obj


def _select(obj: ObjectDef, fields: Sequence[str] | None) -> list[FieldDef] | None:
    if not fields:
        return None
    fmap = obj.field_map()
    chosen = []
    for name in fields:
        fdef = fmap.get(name.strip().lower())
        if fdef is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
        chosen.append(fdef)
    return chosen
