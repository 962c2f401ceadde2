-- Room on each outbox page for its rows' claims. A claim changes no indexed column (claimed_by,
-- claimed_until, claimed_pid, claimed_backend_start), so PostgreSQL can write the claimed version on
-- the same page without touching the table's six indexes (a HOT update) -- when the page has room.
-- Packed full, as bulk inserts leave it, it has none: each claimed row cost an insertion into every
-- index (16-27 us of the 47-77 ms a claim of 2,000 took). Half-full pages hold a claim of every row
-- of a page in one lane, or of both halves of it in two; the outcome (a status change) moves the row
-- anyway. The table takes about twice the pages; existing pages keep their packing.
ALTER TABLE gmcrm.trigger_outbox SET (fillfactor = 50);
