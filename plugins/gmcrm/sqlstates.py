"""SQLSTATEs raised by the DMS rules (closing a lead, distribution, the catalogue not loaded), for callers to
recognise.

psycopg raises them as :class:`psycopg.DatabaseError` (a custom class); compare ``exc.sqlstate``.
The message says what happened (Portuguese / English); ``exc.diag.message_hint`` says what to do.
"""

from __future__ import annotations

from typing import Final

# Closing rules (triggers.md "Closing a lead"): nothing is written by a refused attempt.
CLOSE_WON_REFUSED: Final = "GMC01"
CLOSE_LOST_WITHOUT_REASON: Final = "GMC02"
CLOSING_RULES: Final = frozenset({CLOSE_WON_REFUSED, CLOSE_LOST_WITHOUT_REASON})
# A reason mapped to a "Motivo no CRM" that is not (or no longer) in GM's list.
GM_REASON_NOT_IN_LIST: Final = "GMC03"
# gmcrm.trigger_catalogue was never loaded (sync_catalogue not run after the upgrade).
CATALOGUE_NOT_LOADED: Final = "GMC09"
# dms.distribute_contacts refused the selection.
DISTRIBUTION_BAD_CONTACTS: Final = "GMC10"
DISTRIBUTION_BAD_USERS: Final = "GMC11"


def is_closing_rule_error(exc: BaseException) -> bool:
    """Whether a database error is one of the closing rules refusing an action."""
    return getattr(exc, "sqlstate", None) in CLOSING_RULES
