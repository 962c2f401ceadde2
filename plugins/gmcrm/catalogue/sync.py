"""The GM trigger catalogue copied into the database (``gmcrm.trigger_catalogue``, ``gmcrm.gm_reason``):
the capture routines (``gmcrm.record_trigger``) consult it for lead-type, source and contact-form
applicability and steps, and ``dms.reason.gm_reason`` is checked against it. Statements:
``include/sql/queries/catalogue.sql``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from gmcrm.catalogue.model import StageRule, TriggerCatalogue, TriggerDef
from gmcrm.catalogue.parse import load_catalogue
from gmcrm.paths import named_queries


def _variants(trig: TriggerDef) -> dict[str, Any]:
    def rule(r: StageRule) -> dict[str, Any]:
        return {"stage": r.stage, "substage": r.substage, "substage_from": r.substage_from, "carries": list(r.carries)}

    out: dict[str, Any] = {}
    if trig.by_lead_type:
        out["by_lead_type"] = {k: rule(v) for k, v in trig.by_lead_type.items()}
    if trig.steps:
        out["steps"] = [rule(s) for s in trig.steps]
    return out


def sync_catalogue(conn: psycopg.Connection[Any], catalogue: TriggerCatalogue | None = None) -> int:
    """Make ``gmcrm.trigger_catalogue`` and ``gmcrm.gm_reason`` match the YAML; return rows changed.

    Idempotent: a second run changes nothing and returns 0. Runs in the caller's transaction.
    Codes dropped from the YAML are deleted (the capture triggers stop recording them); GM reasons
    dropped from it are kept inactive, because DMS reasons may still point at them.
    """
    cat = catalogue or load_catalogue()
    q = named_queries("catalogue")
    changed = 0
    with conn.cursor() as cur:
        for position, code in enumerate(cat.gm_reasons, 1):
            cur.execute(q["upsert_gm_reason"], {"code": code, "position": position})
            changed += cur.rowcount
        cur.execute(q["deactivate_gm_reasons"], {"codes": list(cat.gm_reasons)})
        changed += cur.rowcount
        for trig in cat.triggers.values():
            cur.execute(
                q["upsert_trigger"],
                {
                    "code": trig.code,
                    "name": trig.name,
                    "action": trig.action,
                    "communication": trig.communication,
                    "stage": trig.base.stage,
                    "substage": trig.base.substage,
                    "substage_from": trig.base.substage_from,
                    "lead_types": list(trig.lead_types),
                    "sources": Jsonb({k: list(v) for k, v in trig.sources.items()}) if trig.sources else None,
                    "contact_form_types": None if trig.contact_form_types is None else list(trig.contact_form_types),
                    "step_count": trig.step_count,
                    "variants": Jsonb(_variants(trig)),
                    "carries": list(trig.base.carries),
                    "notes": trig.notes,
                },
            )
            changed += cur.rowcount
        cur.execute(q["delete_dropped_triggers"], {"codes": list(cat.triggers)})
        changed += cur.rowcount
    return changed
