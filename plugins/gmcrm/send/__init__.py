"""Trigger events from the DMS to GM, as a flow: ``outbox`` (claims, outcomes, requeue, blocking, skip,
list: the statements of ``include/sql/queries/outbox.sql``) → ``payload`` (GM records built from outbox
rows; pure) → ``deliver`` (collection batches, per-record outcomes, the send log) → ``report``
(statuses and their moves, attempts, the run's lines); ``pipeline`` is what the DAG calls.

The capture itself happens in the DMS database: routines on the activity tables write
``gmcrm.trigger_outbox`` in the same transaction as the change, as the GM trigger catalogue
(:mod:`gmcrm.catalogue`) says.
"""
