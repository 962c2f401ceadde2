-- Issue 11: the import skips the leads whose last change at GM is the integration's own (an event GM
-- applied), and once a day (gm_crm.yaml, own_changes_check_hours) each dealership's read takes those
-- changes too, since the last time it did, so that a GM change hidden behind one of our events still
-- loads. The time up to which a read took them: per extract (import_batch), and per dealership once its
-- load commits (import_watermark, written by gmcrm.load_dealer). NULL: never (the next read takes them).
ALTER TABLE gmcrm.import_batch ADD COLUMN own_changes_checked_to timestamptz;
ALTER TABLE gmcrm.import_watermark ADD COLUMN own_changes_checked_to timestamptz;
