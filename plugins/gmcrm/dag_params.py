"""The DAGs' params: each DAG's trigger form (:func:`import_params`, :func:`send_params`), so the DAG
files only wire tasks. Date-time params are refused when a run is triggered, and refused again (without
retries) by the task that reads them.

Airflow validates params with jsonschema and its ``FormatChecker``, but jsonschema checks
``format: date-time`` only when the optional ``rfc3339-validator`` package is installed, and it is not
(nor in Airflow's constraints): any text was accepted, and the task then burned its four tries on it.
A ``pattern`` is checked by jsonschema itself, in the API server, when the run is triggered (UI form,
REST API, CLI), so garbage never becomes a run. The format stays: the trigger form shows a date-time
picker for it (it sends ISO 8601 in UTC, ``2026-11-30T08:00:00.000Z``). What the pattern cannot know
(30 February) the task refuses at once with :class:`AirflowFailException`.

Every param of both forms may be left empty, so every schema type admits ``null``: Airflow 3.3's UI marks
a field required (a red mark, and "required" refused when empty, a switch left off included) when its
schema has a ``type`` that is not a list containing ``"null"``; it draws the field by the first other
type. The tasks read an empty value (``None``, ``[]``, ``""``) as "not given".

Safe at parse time: no database, network or secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from gmcrm import settings
from gmcrm.normalize import mask_text

EXAMPLE = "2026-11-30T08:00:00Z"

#: RFC 3339 date and time with its offset (``Z`` or ``±hh:mm``), seconds and up to six decimals (what
#: Python keeps); a space may stand for the ``T``.
DATETIME_PATTERN = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
    r"([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def optional_list_param(title: str, description: str) -> Param:
    """A list of texts that may be left empty (null or []: every one)."""
    return Param([], type=["array", "null"], items={"type": "string"}, title=title, description=description)


def flag_param(title: str, description: str) -> Param:
    """A switch, off by default; null is off (not "required", as a plain boolean would be in the form)."""
    return Param(False, type=["boolean", "null"], title=title, description=description)


def datetime_param(title: str, description: str) -> Param:
    """An optional date-time param (null: not given) that the trigger refuses unless it is ISO 8601."""
    return Param(
        None,
        type=["null", "string"],
        format="date-time",
        pattern=DATETIME_PATTERN,
        # In the schema, so the trigger's refusal (jsonschema's message, which prints the schema) shows
        # what to give; the form's date-time picker ignores it.
        examples=[EXAMPLE],
        title=title,
        description=f"{description} ISO 8601 with its time zone, for example {EXAMPLE}.",
    )


# ---------------------------------------------------------------------------------------------
# The params both DAGs have, each date-time param, and each DAG's form: declared here once (new Params
# each call, so the two DAGs never share one object), the DAG files only wire tasks.


def dealer_codes_param() -> Param:
    """Both DAGs: the dealerships to work on."""
    return optional_list_param(
        "Dealer codes",
        "Only these GM dealer codes, one a line. Empty: every dealership with the integration enabled.",
    )


def since_param() -> Param:
    """The import: re-read leads changed since then (instead of from the watermark)."""
    return datetime_param(
        "Re-read since", "Re-read the leads changed since this date and time. Empty: from the watermark."
    )


def occurred_from_param() -> Param:
    """The send: only events that happened in the DMS at or after then."""
    return datetime_param("Occurred from", "Only events that happened in the DMS at or after this time.")


def occurred_to_param() -> Param:
    """The send: only events that happened in the DMS before then."""
    return datetime_param("Occurred to", "Only events that happened in the DMS before this time.")


def import_params() -> dict[str, Param]:
    """The import DAG's form (``gmcrm_import_leads``)."""
    return {
        "dealer_codes": dealer_codes_param(),
        "full_resync": flag_param(
            "Full resync",
            "Re-read every open lead of these dealerships, ignoring the watermark.",
        ),
        "since": since_param(),
    }


def send_params() -> dict[str, Param]:
    """The send DAG's form (``gmcrm_send_triggers``): the filters, the backfill of failed sends, lanes."""
    return {
        "dealer_codes": dealer_codes_param(),
        "retry_failed": flag_param(
            "Retry failed events",
            "Put FAILED events (within these filters) back in the queue first: the backfill of failed sends. "
            "Airflow's date-range Backfill is not this: it makes runs for past dates and selects no events.",
        ),
        "lead_id": Param(
            None,
            type=["null", "string"],
            title="Lead ID",
            description="Only this GM Lead ID (18 characters, starts with 006). Empty: every lead.",
        ),
        "trigger_codes": optional_list_param(
            "Trigger codes",
            "Only these triggers (CRE, VPE, NFF, ...), one a line. Empty: all.",
        ),
        "occurred_from": occurred_from_param(),
        "occurred_to": occurred_to_param(),
        "dry_run": flag_param(
            "Dry run",
            "Build and log the payloads; send nothing and change nothing.",
        ),
        # No fixed default: empty means the deployment's GMCRM_SEND_LANES, read by the task, not at parse.
        "lanes": Param(
            None,
            type=["integer", "null"],
            minimum=1,
            maximum=settings.MAX_SEND_LANES,
            title="Parallel lanes",
            description=f"Send in this many parallel tasks (1 to {settings.MAX_SEND_LANES}); the events of one lead "
            f"always share a lane. Empty: the deployment's setting {settings.SEND_LANES} "
            f"({settings.DEFAULT_SEND_LANES} unless set).",
        ),
    }


def datetime_value(params: Mapping[str, Any], name: str) -> datetime | None:
    """The param ``name`` as an aware datetime, None when not given. A value that is not a date and time
    fails the task at once (no retries: another try would read the same value)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    import pendulum

    if not isinstance(value, str) or not re.match(DATETIME_PATTERN, value):  # what the trigger refuses
        raise AirflowFailException(_bad(name, value, "a date, a time and a time zone are needed"))
    try:
        parsed = pendulum.parse(value, strict=True)
    except Exception as exc:  # pendulum's ParserError, or ValueError for a day that does not exist
        raise AirflowFailException(_bad(name, value, str(exc))) from None
    assert isinstance(parsed, datetime)  # the pattern admits nothing else
    return parsed


def _bad(name: str, value: Any, why: str) -> str:
    return mask_text(f"param {name}: {str(value)[:80]!r} is not a date and time ({why}); give ISO 8601, e.g. {EXAMPLE}")
