"""Development-only helpers beside the integration (the demo, tests, benchmarks).

Production code never imports this package. :mod:`gmcrm_devtools.dms_actions` plays the DMS screens:
the dealership's work on a contact done with plain SQL, as a DMS screen would, so that the capture
triggers in the database record GM's trigger events exactly as they do for the real DMS.
"""
