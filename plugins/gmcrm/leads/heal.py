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
from gmcrm.paths import named_queries

_SQL = named_queries("import")

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


def candidates(conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str]) -> list[Candidate]:
    """The quarantined leads of these dealerships to stage again in this run: those GM's query of
    this run staged are left out (GM's current record wins over the stored one)."""
    found = [
        Candidate(*row)
        for row in conn.execute(_SQL["heal_candidates"], {"codes": dealer_codes, "settings": list(SETTINGS_REASONS)})
    ]
    if not found:
        return found
    # Asked only when there are candidates: one pass over this run's staging (no index by lead).
    read = {
        lead_id
        for (lead_id,) in conn.execute(
            _SQL["heal_staged_by_gm"],
            (run_id, [c.lead_id for c in found]),
        )
    }
    return [c for c in found if c.lead_id not in read]


def mark_staged(conn: psycopg.Connection[Any], run_id: str, lead_ids: list[str]) -> None:
    """Record which run staged these leads again (in the transaction that staged them)."""
    if lead_ids:
        conn.execute(
            _SQL["heal_mark_staged"],
            (run_id, lead_ids),
        )


def mark_done(conn: psycopg.Connection[Any], kept: list[str], superseded: list[str]) -> None:
    """Leads not staged again: ``kept`` cannot be tried from their stored record (they wait for GM's
    next change), ``superseded`` are contacts already as new as their record (they leave quarantine).
    Either way the request is answered and the current settings count as seen."""
    if kept or superseded:
        conn.execute(
            _SQL["heal_mark_done"],
            {"ids": kept + superseded, "superseded": superseded},
        )


def settings_read_at(conn: psycopg.Connection[Any]) -> datetime:
    """The database's clock now, before a load reads the settings: what its quarantined leads were
    judged against (a later change releases them)."""
    row = conn.execute(_SQL["settings_read_at"]).fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def after_load(conn: psycopg.Connection[Any], run_id: str, dealer_codes: list[str], seen: datetime) -> int:
    """After the loads of a group (``dealer_codes``: those that loaded in this session): the leads
    still quarantined get the reason their lead has under today's settings (the load keeps a
    quarantine row's reason while GM's record is unchanged) and the moment those settings were read;
    this run's retries are done. Returns the leads still quarantined after a retry."""
    if not dealer_codes:
        return 0
    params = {"run": run_id, "codes": dealer_codes, "seen": seen}
    conn.execute(_SQL["heal_after_load_reasons"], params)
    row = conn.execute(
        _SQL["heal_still_quarantined"],
        params,
    ).fetchone()
    conn.execute(_SQL["heal_after_load_retries"], params)
    conn.execute(_SQL["heal_after_load_answered"], params)
    conn.commit()
    return int(row[0]) if row else 0
