"""The pages' query parameters, checked: a bad value is a message on the page (never a query)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from gmcrm import ops_queries
from gmcrm.web.pages import OUTCOMES

LEAD_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DEALER_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,10}$")
TRIGGER_CODE_RE = re.compile(r"^[A-Z]{3}$")
REASON_RE = re.compile(r"^[A-Z_]{1,40}$")
# Dates the search accepts: beyond them a day's end is not a date Python or PostgreSQL can hold.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)


@dataclass(frozen=True)
class Filters:
    """The lead log's search form."""

    dealer_code: str = ""
    date_from: str = ""
    date_to: str = ""
    lead_id: str = ""
    trigger_code: str = ""
    outcome: str = ""
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        def value(name: str, limit: int = 64) -> str:
            return (params.get(name) or "").strip()[:limit]

        errors: list[str] = []
        dealer_code, lead_id = value("dealer_code"), value("lead_id")
        trigger_code, outcome = value("trigger_code").upper(), value("outcome").upper()
        date_from, date_to = value("date_from"), value("date_to")
        if dealer_code and not DEALER_CODE_RE.match(dealer_code):
            errors.append("Dealership: not a dealer code.")
        if lead_id and not LEAD_ID_RE.match(lead_id):
            errors.append("Lead ID: letters and digits only, as GM shows it (e.g. 00QWD00000H4eBaYAJ).")
        if trigger_code and not TRIGGER_CODE_RE.match(trigger_code):
            errors.append("Trigger code: three letters, e.g. CRE.")
        if outcome and outcome not in OUTCOMES:
            errors.append("Outcome: one of " + ", ".join(OUTCOMES) + ".")
        parsed: dict[str, date] = {}
        for name, text, label in (("from", date_from, "From"), ("to", date_to, "To")):
            if text:
                try:
                    parsed[name] = date.fromisoformat(text)
                except ValueError:
                    errors.append(f"{label} date: use the date picker (YYYY-MM-DD).")
                    continue
                if not EARLIEST_DATE <= parsed[name] <= LATEST_DATE:
                    errors.append(f"{label} date: between {EARLIEST_DATE} and {LATEST_DATE}, please.")
        if "from" in parsed and "to" in parsed and parsed["to"] < parsed["from"]:
            errors.append("Date range: the end is before the start.")
        return cls(dealer_code, date_from, date_to, lead_id, trigger_code, outcome, tuple(errors))

    @property
    def given(self) -> bool:
        return any(self.as_params().values())

    def as_params(self) -> dict[str, str]:
        return {
            "dealer_code": self.dealer_code,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "lead_id": self.lead_id,
            "trigger_code": self.trigger_code,
            "outcome": self.outcome,
        }

    def search_kwargs(self) -> dict[str, Any]:
        """Arguments of :func:`gmcrm.lead_log.search`. Dates are whole days in the DMS's time zone:
        naive datetimes, which PostgreSQL reads in the session's ``TimeZone``."""
        start = datetime.combine(date.fromisoformat(self.date_from), datetime.min.time()) if self.date_from else None
        end = (
            datetime.combine(date.fromisoformat(self.date_to) + timedelta(days=1), datetime.min.time())
            if self.date_to
            else None
        )
        return {
            "dealer_code": self.dealer_code or None,
            "lead_id": self.lead_id or None,
            "trigger_code": self.trigger_code or None,
            "outcome": self.outcome or None,
            "date_from": start,
            "date_to": end,
        }


@dataclass(frozen=True)
class OpsFilters:
    """The operations lists' filters."""

    dealer_code: str = ""
    reason: str = ""
    status: str = ""
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str], *, default_status: str = "") -> OpsFilters:
        errors: list[str] = []
        dealer_code = (params.get("dealer_code") or "").strip()[:64]
        reason = (params.get("reason") or "").strip().upper()[:64]
        status = (params.get("status") or default_status).strip().upper()[:64]
        if dealer_code and not DEALER_CODE_RE.match(dealer_code):
            errors.append("Dealership: not a dealer code (letters, digits, - and _, up to 10).")
        if reason and not REASON_RE.match(reason):
            errors.append("Reason: a reason code such as NO_CONTACT_SETTING.")
        if status and status not in ops_queries.EVENT_LIST_STATUSES:
            errors.append("Status: one of " + ", ".join(ops_queries.EVENT_LIST_STATUSES) + ".")
        return cls(dealer_code, reason, status, tuple(errors))
