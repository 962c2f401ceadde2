"""The quarantine as people see it: quarantined leads, their reasons, and asking for a retry.

Quarantined leads are rows of ``gmcrm.lead_quarantine`` (``resolved_at`` null). A lead quarantined
for a settings reason is tried again by itself on the next import run after its dealership's
settings change (:mod:`gmcrm.leads.heal`); :func:`request_retry` marks any others to be tried
again, from their stored GM record, on the next run (after gm_crm.yaml was corrected, say).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg.rows import class_row

from gmcrm.leads.heal import SETTINGS_REASONS
from gmcrm.leads.stageable import UNREADABLE_DATE, UNSTAGEABLE
from gmcrm.leads.transform import Reason
from gmcrm.paths import named_queries

_SQL = named_queries("quarantine")

#: Every reason code a quarantined lead can have: the transform's, in priority order, then the extract's.
REASON_CODES: Final = (*(str(r) for r in Reason), UNREADABLE_DATE, UNSTAGEABLE)


@dataclass(frozen=True)
class QuarantinedLead:
    dealer_code: str | None
    lead_id: str
    reason_code: str
    reason: str
    first_seen_at: datetime
    last_seen_at: datetime
    times_seen: int
    retry_requested_at: datetime | None
    retried_at: datetime | None

    @property
    def heals_by_itself(self) -> bool:
        """A settings reason: fixing the setting is enough, the next run tries the lead again."""
        return self.reason_code in SETTINGS_REASONS


def reason_code(value: str) -> str:
    """A reason code as given on the command line (any case), checked."""
    code = value.strip().upper()
    if code not in REASON_CODES:
        raise ValueError(f"unknown reason {value!r}; one of {', '.join(REASON_CODES)}")
    return code


def _params(dealer_code: str | None, reason: str | None, lead_id: str | None) -> dict[str, Any]:
    return {"dealer": dealer_code, "reason": reason, "lead": lead_id}


def open_leads(
    conn: psycopg.Connection[Any],
    dealer_code: str | None = None,
    reason: str | None = None,
    lead_id: str | None = None,
    limit: int = 100,
) -> list[QuarantinedLead]:
    """Quarantined leads, oldest first (those waiting longest)."""
    with conn.cursor(row_factory=class_row(QuarantinedLead)) as cur:
        return cur.execute(
            _SQL["open_leads"],
            {**_params(dealer_code, reason, lead_id), "limit": limit},
        ).fetchall()


def counts(conn: psycopg.Connection[Any], dealer_code: str | None = None, reason: str | None = None) -> dict[str, int]:
    """Quarantined leads by reason code (most first)."""
    rows = conn.execute(
        _SQL["counts"],
        _params(dealer_code, reason, None),
    ).fetchall()
    return {code: int(n) for code, n in rows}


@dataclass(frozen=True)
class RetryRequest:
    marked: int
    #: Dealerships of the marked leads whose integration is off: their leads wait until it is on.
    disabled: list[str]


def request_retry(
    conn: psycopg.Connection[Any],
    dealer_code: str | None = None,
    reason: str | None = None,
    lead_id: str | None = None,
) -> RetryRequest:
    """Mark the quarantined leads that match (all of them when nothing is given) to be tried again,
    from their stored GM record, by the next import run."""
    rows = conn.execute(
        _SQL["request_retry"],
        _params(dealer_code, reason, lead_id),
    ).fetchall()
    codes = sorted({code for (code,) in rows if code is not None})
    disabled = [
        code
        for (code,) in conn.execute(
            _SQL["disabled_dealerships"],
            (codes,),
        )
    ]
    conn.commit()
    return RetryRequest(len(rows), disabled)
