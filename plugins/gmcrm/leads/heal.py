"""Quarantine heals itself: quarantined leads tried again from their stored GM record.

The import re-reads only the lookback window, so a lead quarantined for a reason that lies in the DMS
settings (:data:`SETTINGS_REASONS`: no receiving user, no contact settings for its lead type) would
stay quarantined until GM touched it again. Instead the extract stages such a lead again, from the
record stored with it (``gmcrm.lead_quarantine.raw_record``), once its dealership's settings changed
after the load last judged it (``gmcrm.dealer_settings_change``, kept by triggers, migration 0012,
against ``settings_seen_at``); and any quarantined lead a person marked with
``gmcrm quarantine retry`` (``retry_requested_at``). The normal transform and load then load it (and
release it from quarantine) or quarantine it again with the reason of today's settings.

Rules that keep it safe:

* A stored record is never newer than what the DMS has seen of the lead: every read of the lead
  updates its quarantine row (or loads it). A lead the same run read from GM is not staged again
  from its record (GM's current record wins); a lead that already has a contact as new as the
  stored record is not staged again either (the load's update compares by content, so an older
  record would move the contact back) and leaves quarantine: it is in the DMS.
* Re-staged records count in ``gmcrm.import_batch.records`` like any other (the load's staged-count
  check stays exact) but never in the watermark candidate, which comes from GM's query only.
* The marks are cleared after the dealership's load finished (:func:`after_load`); a retry whose
  load failed or crashed is simply made again by the next run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

from gmcrm.leads.transform import Reason

#: Reasons that lie in the DMS settings: a change of the dealership's settings may release the lead.
SETTINGS_REASONS: Final = (str(Reason.NO_USER), str(Reason.NO_CONTACT_SETTING))


@dataclass(frozen=True)
class Candidate:
    """A quarantined lead to try again from its stored record."""

    lead_id: str
    dealer_code: str
    reason_code: str
    raw_record: str
    gm_modstamp: datetime | None
    #: A contact of the lead is as new as the stored record (or newer): nothing to load.
    superseded: bool

    def record(self) -> dict[str, Any] | None:
        """The stored GM record, or None when it is not one (a record that could not be stored whole)."""
        try:
            value = json.loads(self.raw_record)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


CANDIDATES_SQL = """
SELECT q.lead_id, q.dealer_code, q.reason_code, q.raw_record::text, q.gm_modstamp,
       EXISTS (SELECT 1 FROM dms.contact c
               WHERE c.lead_id = q.lead_id
                 AND (c.gm_modstamp IS NULL OR q.gm_modstamp IS NULL OR c.gm_modstamp >= q.gm_modstamp))
FROM gmcrm.lead_quarantine q
LEFT JOIN gmcrm.dealer_settings_change s ON s.dealer_code = q.dealer_code
WHERE q.dealer_code = ANY(%(codes)s) AND q.resolved_at IS NULL
  AND (q.retry_requested_at IS NOT NULL
       OR (q.reason_code = ANY(%(settings)s) AND s.changed_at > coalesce(q.settings_seen_at, q.last_seen_at)))
ORDER BY q.dealer_code, q.lead_id
"""


def candidates(conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str]) -> list[Candidate]:
    """The quarantined leads of these dealerships to stage again in this run: those GM's query of
    this run staged are left out (GM's current record wins over the stored one)."""
    found = [
        Candidate(*row)
        for row in conn.execute(CANDIDATES_SQL, {"codes": dealer_codes, "settings": list(SETTINGS_REASONS)})
    ]
    if not found:
        return found
    # Asked only when there are candidates: one pass over this run's staging (no index by lead).
    read = {
        lead_id
        for (lead_id,) in conn.execute(
            "SELECT lead_id FROM gmcrm.lead_staging WHERE run_id = %s AND lead_id = ANY(%s)",
            (run_id, [c.lead_id for c in found]),
        )
    }
    return [c for c in found if c.lead_id not in read]


def mark_staged(conn: psycopg.Connection[Any], run_id: str, lead_ids: list[str]) -> None:
    """Record which run staged these leads again (in the transaction that staged them)."""
    if lead_ids:
        conn.execute(
            "UPDATE gmcrm.lead_quarantine SET retry_run_id = %s, retried_at = now() WHERE lead_id = ANY(%s)",
            (run_id, lead_ids),
        )


def mark_done(conn: psycopg.Connection[Any], kept: list[str], superseded: list[str]) -> None:
    """Leads not staged again: ``kept`` cannot be tried from their stored record (they wait for GM's
    next change), ``superseded`` are contacts already as new as their record (they leave quarantine).
    Either way the request is answered and the current settings count as seen."""
    if kept or superseded:
        conn.execute(
            "UPDATE gmcrm.lead_quarantine SET retried_at = now(), settings_seen_at = now(), "
            "retry_requested_at = NULL, retry_run_id = NULL, "
            "resolved_at = CASE WHEN lead_id = ANY(%(superseded)s) THEN now() ELSE resolved_at END "
            "WHERE lead_id = ANY(%(ids)s)",
            {"ids": kept + superseded, "superseded": superseded},
        )


def settings_read_at(conn: psycopg.Connection[Any]) -> datetime:
    """The database's clock now, before a load reads the settings: what its quarantined leads were
    judged against (a later change releases them)."""
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


AFTER_LOAD_REASONS = """
UPDATE gmcrm.lead_quarantine q
SET reason_code = r.reason_code, reason = r.reason, settings_seen_at = %(seen)s,
    last_seen_at = CASE WHEN q.retry_run_id = %(run)s
                          OR (q.reason_code, q.reason) IS DISTINCT FROM (r.reason_code, r.reason)
                        THEN now() ELSE q.last_seen_at END,
    times_seen = q.times_seen + CASE WHEN q.retry_run_id = %(run)s THEN 1 ELSE 0 END
FROM (SELECT DISTINCT ON (lead_id) lead_id, dealer_code, reason_code, reason, gm_modstamp
      FROM pg_temp.gmcrm_quarantine_rows WHERE dealer_code = ANY(%(codes)s)
      ORDER BY lead_id, gm_modstamp DESC NULLS LAST) r
WHERE q.lead_id = r.lead_id AND q.dealer_code = r.dealer_code AND q.resolved_at IS NULL
  AND q.gm_modstamp IS NOT DISTINCT FROM r.gm_modstamp
"""

AFTER_LOAD_RETRIES = """
UPDATE gmcrm.lead_quarantine
SET retry_run_id = NULL, settings_seen_at = greatest(settings_seen_at, %(seen)s),
    retry_requested_at = CASE WHEN retry_requested_at <= retried_at THEN NULL ELSE retry_requested_at END
WHERE retry_run_id = %(run)s AND dealer_code = ANY(%(codes)s)
"""

#: A lead asked for that GM's own record loaded meanwhile: the request is answered.
AFTER_LOAD_ANSWERED = """
UPDATE gmcrm.lead_quarantine SET retry_requested_at = NULL
WHERE retry_requested_at IS NOT NULL AND resolved_at IS NOT NULL AND dealer_code = ANY(%(codes)s)
"""


def after_load(conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str], seen: datetime) -> int:
    """After the loads of a group (``dealer_codes``: those that loaded in this session): the leads
    still quarantined get the reason their lead has under today's settings (the load keeps a
    quarantine row's reason while GM's record is unchanged) and the moment those settings were read;
    this run's retries are done. Returns the leads still quarantined after a retry."""
    if not dealer_codes:
        return 0
    params = {"run": run_id, "codes": dealer_codes, "seen": seen}
    conn.execute(AFTER_LOAD_REASONS, params)
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE resolved_at IS NULL) FROM gmcrm.lead_quarantine "
        "WHERE retry_run_id = %(run)s AND dealer_code = ANY(%(codes)s)",
        params,
    ).fetchone()
    conn.execute(AFTER_LOAD_RETRIES, params)
    conn.execute(AFTER_LOAD_ANSWERED, params)
    conn.commit()
    return int(row[0]) if row else 0
