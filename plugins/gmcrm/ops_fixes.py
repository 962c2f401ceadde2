"""What fixes each row of the operations page's lists: the commands to run, or the send DAG params of
a trigger-form run. Pure: no database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gmcrm.dag_defaults import SEND_DAG_ID

# Outbox statuses that wait: PENDING and RETRY go on their own; BLOCKED waits behind a FAILED event of
# its lead; FAILED waits for a person. CANCELLED (lead deleted at GM) and SKIPPED are final.
WAITING = ("PENDING", "RETRY")


@dataclass(frozen=True)
class Fix:
    """What a person does: commands to run (in order), or params of a trigger-form run."""

    commands: tuple[str, ...] = ()
    dag_id: str | None = None
    params: dict[str, Any] | None = None
    note: str = ""
    first: str = ""  # what to do before the commands (at GM, for instance)

    @property
    def params_json(self) -> str:
        return json.dumps(self.params, ensure_ascii=False) if self.params is not None else ""

    @property
    def airflow_cli(self) -> str:
        return f"airflow dags trigger {self.dag_id} --conf '{self.params_json}'" if self.dag_id else ""


# Quarantine reasons that lie in the DMS settings: fixed there, then the lead is tried again.
SETTINGS_FIXES: dict[str, tuple[str, ...]] = {
    "NO_USER": ("gmcrm dealership set {code} --{option}-user LOGIN",),
    "NO_CONTACT_SETTING": (
        "gmcrm contact-settings set {code} --lead-type {lead_type} --contact-type ... --contact-subtype ...",
    ),
}
# Reasons that lie in GM's record: corrected at GM, the lead loads when the import reads it again.
GM_FIXES = {
    "DEALER_MISMATCH": "the lead's dealer code at GM",
    "BAD_LEAD_ID": "the Lead ID at GM",
    "UNKNOWN_LEAD_TYPE": "the lead type at GM",
    "NO_NAME_NO_CONTACT": "the customer's name, e-mail or phone at GM",
    "FIELD_TOO_LONG": "the field at GM (shorten it)",
    "UNSTAGEABLE": "the record at GM",
    "UNREADABLE_DATE": "the date at GM",
}
USER_OPTIONS = {
    "NEW_VEHICLE": "vehicles",
    "USED_VEHICLE": "vehicles",
    "PARTS": "parts",
    "SERVICE": "service",
    "AFTER_SALES": "after-sales",
}


def quarantine_fix(reason_code: str, dealer_code: str, lead_type: str | None) -> Fix:
    code = dealer_code or "CODE"
    retry = f"gmcrm quarantine retry {code} --reason {reason_code}"
    if reason_code in SETTINGS_FIXES:
        option = USER_OPTIONS.get(lead_type or "", "vehicles")
        first = tuple(
            c.format(code=code, option=option, lead_type=lead_type or "LEAD_TYPE") for c in SETTINGS_FIXES[reason_code]
        )
        return Fix(
            (*first, f"gmcrm dealership check {code}", retry),
            note="The lead is tried again from its stored GM record once the settings change.",
        )
    what = GM_FIXES.get(reason_code, "the lead at GM")
    return Fix(
        (retry,),
        first=f"Correct {what}: the lead loads when the import reads it again. To try it at once:",
    )


def event_fix(row: dict[str, Any]) -> Fix:
    """A failed (or blocked) event: the command or the send DAG params that re-drive it."""
    code = str(row["dealer_code"])
    params: dict[str, Any] = {"retry_failed": True, "dealer_codes": [code]}
    if row.get("status") == "BLOCKED":
        return Fix(note=f"Waits behind event {row.get('blocked_by') or 'a failed event'} of its lead: fix that one.")
    if row.get("status") == "CANCELLED":
        return Fix(note="Final: the lead was deleted at GM. Nothing to do.")
    if row.get("status") in WAITING:
        return Fix(note="Goes on the next send run.")
    commands: tuple[str, ...] = ()
    if row.get("last_error_code") == "UNMAPPED_REASON":
        reason = row.get("reason_code") or "REASON"
        commands = (f"gmcrm reasons list {code} --unmapped", f"gmcrm reasons map {code} {reason} <GM reason>")
    return Fix(
        (*commands, f"gmcrm events retry {row['id']}"),
        dag_id=SEND_DAG_ID,
        params=params,
        note=f'Or skip it for good: gmcrm events skip {row["id"]} --why "..."',
    )
