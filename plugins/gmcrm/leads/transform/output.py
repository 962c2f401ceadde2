"""The transform's output frames: the loadable leads (:data:`~gmcrm.leads.transform.schema.LEAD_COLUMNS`,
ready for COPY) and the quarantine rows (:data:`~gmcrm.leads.transform.schema.QUARANTINE_COLUMNS`),
built from the cleaned columns and the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from gmcrm.gm_mapping import GmMapping
from gmcrm.leads.transform import rules
from gmcrm.leads.transform.columns import Leads
from gmcrm.leads.transform.kernels import BoolArray, Coded, IntArray, ObjArray, empty_frame, missing, string_array
from gmcrm.leads.transform.rules import Problem
from gmcrm.leads.transform.schema import INPUT_COLUMNS, PERSON_TYPES, QUARANTINE_COLUMNS


def lead_frame(leads: Leads, idx: IntArray, stamps: pd.Series, created: pd.Series) -> pd.DataFrame:
    """The loadable leads (the rows at ``idx``, in that order), columns and dtypes of
    :data:`LEAD_COLUMNS`.

    Values are worked out for all rows in input order (where the values lie in memory in that
    order too), and each column is taken at ``idx`` once, at the end."""
    dealers = leads.dealers
    every = idx.size == len(leads.lead_id) and bool((idx[1:] > idx[:-1]).all())  # all rows, as they are

    def take(values: Any) -> Any:
        return values if every else values.take(idx)

    def text(values: ObjArray) -> pd.api.extensions.ExtensionArray:
        return take(string_array(values))

    def coded(column: Coded) -> pd.api.extensions.ExtensionArray:
        return Coded(take(column.codes), column.table).array("string")

    group, cell = take(leads.group), take(leads.cell)
    # The dealership's settings for the lead's type (every loadable lead has a user and settings).
    servable = (dealers.has_user & dealers.has_setting).ravel()

    def per_type(table: ObjArray) -> pd.api.extensions.ExtensionArray:
        values = table.ravel().copy()
        values[~servable] = None
        return Coded(cell, values).array("string")

    def per_type_int(table: IntArray, present: BoolArray) -> pd.api.extensions.ExtensionArray:
        return pd.arrays.IntegerArray(table.ravel()[cell], ~(servable & present.ravel())[cell])

    def per_dealer(values: list[Any]) -> pd.api.extensions.ExtensionArray:
        return pd.array(values, dtype="string").take(group)

    status, direct = rules.routing(dealers, group)
    receiving = dealers.user_id.ravel()[cell]
    unserved = ~servable[cell]
    columns: dict[str, Any] = {
        "lead_id": text(leads.lead_id),
        "dealer_code": per_dealer(list(dealers.codes)),
        "lead_type": coded(leads.types),
        "is_open": pd.arrays.BooleanArray(take(leads.is_open), np.zeros(len(group), dtype=bool)),
        "customer_name": text(rules.customer_name(leads)),
        "person_type": pd.array(list(PERSON_TYPES), dtype="string").take(take(rules.person_type(leads))),
        "document": text(leads.document),
        "email": text(leads.text["email"]),
        "email_key": text(leads.email_key),
        "phone": text(leads.text["phone"]),
        "phone_key": text(leads.phone_key),
        "mobile_phone": text(leads.text["mobile_phone"]),
        "mobile_phone_key": text(leads.mobile_phone_key),
        "contact_type": per_type(dealers.contact_type),
        "contact_subtype": per_type(dealers.contact_subtype),
        "department_id": per_type_int(dealers.department_id, dealers.has_department),
        "traffic_origin": per_dealer([ctx.traffic_origin for ctx in dealers.contexts]),
        "status": status,
        "assigned_user_id": pd.arrays.IntegerArray(receiving, unserved | ~direct),
        "distribution_owner_user_id": pd.arrays.IntegerArray(receiving.copy(), unserved | direct),
        "description": text(rules.description(leads)),
        "interest_model": coded(leads.coded["model"]),
        "interest_model_year": coded(leads.coded["model_year"]),
        "interest_version": coded(leads.coded["trim"]),
        "lead_source": coded(leads.coded["lead_source"]),
        "lead_comments": text(leads.text["comments"]),
        "gm_stage": coded(leads.coded["stage"]),
        "gm_substage": coded(leads.coded["substage"]),
        # The timestamps may be the caller's own (already UTC microseconds): taken or copied.
        "gm_modstamp": stamps.array.copy() if every else stamps.array.take(idx),
        "gm_created_at": created.array.copy() if every else created.array.take(idx),
    }
    # Every array above is new, or (untaken) one of this transform's own: no copying them again.
    return pd.DataFrame(columns, copy=False)


def quarantine_frame(
    frame: pd.DataFrame,
    leads: Leads,
    stamps: pd.Series,
    problems: list[Problem],
    idx: IntArray,
    mapping: GmMapping,
) -> pd.DataFrame:
    """One row per lead that cannot load (the rows at ``idx``, in that order): all its problems in one
    reason, the first one's code."""
    if idx.size == 0:
        return empty_frame(QUARANTINE_COLUMNS)
    codes, reasons = rules.reasons(problems, idx)
    records = frame["raw_record"].to_numpy(dtype=object) if "raw_record" in frame else np.full(len(frame), None)
    rows = idx.tolist()
    return pd.DataFrame(
        {
            "lead_id": string_array(leads.lead_id[idx]),
            "dealer_code": pd.array(list(leads.dealers.codes), dtype="string").take(leads.group[idx]),
            "reason_code": pd.array(codes, dtype="string"),
            "reason": pd.array(reasons, dtype="string"),
            "raw_record": pd.Series(
                [_record(frame, i, mapping) if missing(records[i]) else records[i] for i in rows], dtype=object
            ),
            "gm_modstamp": stamps.array[idx],
        }
    )


def _record(frame: pd.DataFrame, i: int, mapping: GmMapping) -> dict[str, Any]:
    """A stand-in raw record (API names, JSON-ready) for a row that came without one."""
    record: dict[str, Any] = {}
    for logical in INPUT_COLUMNS:
        value = frame[logical].iloc[i]
        if missing(value):
            value = None
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        record[mapping.lead_fields.get(logical, logical)] = value
    return record
