-- The GM trigger catalogue's copy in the database (gmcrm.catalogue.sync). Named statements;
-- parameters are psycopg named params.

-- name: upsert_gm_reason
-- GM's reasons, in GM's order; a reason back in the YAML is active again. Unchanged rows are not
-- written (the sync returns 0 when nothing changed).
INSERT INTO gmcrm.gm_reason AS g (code, active, position) VALUES (%(code)s, true, %(position)s)
ON CONFLICT (code) DO UPDATE SET active = true, position = EXCLUDED.position, updated_at = now()
WHERE (g.active, g.position) IS DISTINCT FROM (true, EXCLUDED.position);

-- name: deactivate_gm_reasons
-- Reasons dropped from the YAML stay, inactive: DMS reasons may still point at them.
UPDATE gmcrm.gm_reason SET active = false, updated_at = now()
WHERE active AND NOT (code = ANY (%(codes)s::text[]));

-- name: upsert_trigger
INSERT INTO gmcrm.trigger_catalogue AS t (code, name, action, communication, stage, substage, substage_from,
    lead_types, sources, contact_form_types, step_count, variants, carries, notes)
VALUES (%(code)s, %(name)s, %(action)s, %(communication)s, %(stage)s, %(substage)s, %(substage_from)s,
    %(lead_types)s, %(sources)s, %(contact_form_types)s, %(step_count)s, %(variants)s, %(carries)s, %(notes)s)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, action = EXCLUDED.action, communication = EXCLUDED.communication,
    stage = EXCLUDED.stage, substage = EXCLUDED.substage, substage_from = EXCLUDED.substage_from,
    lead_types = EXCLUDED.lead_types, sources = EXCLUDED.sources,
    contact_form_types = EXCLUDED.contact_form_types, step_count = EXCLUDED.step_count,
    variants = EXCLUDED.variants, carries = EXCLUDED.carries, notes = EXCLUDED.notes, updated_at = now()
WHERE (t.name, t.action, t.communication, t.stage, t.substage, t.substage_from, t.lead_types, t.sources,
       t.contact_form_types, t.step_count, t.variants, t.carries, t.notes)
   IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.action, EXCLUDED.communication, EXCLUDED.stage, EXCLUDED.substage,
       EXCLUDED.substage_from, EXCLUDED.lead_types, EXCLUDED.sources, EXCLUDED.contact_form_types,
       EXCLUDED.step_count, EXCLUDED.variants, EXCLUDED.carries, EXCLUDED.notes);

-- name: delete_dropped_triggers
-- Codes dropped from the YAML: the capture routines stop recording them.
DELETE FROM gmcrm.trigger_catalogue WHERE NOT (code = ANY (%(codes)s::text[]));
