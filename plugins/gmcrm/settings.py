"""Every ``GMCRM_*`` environment variable, in one place: its name, its default and what it is for.

Production code reads them through this module; so do the devtools (``make demo``, ``make run``,
``make resilience``). Each reader looks at ``os.environ`` when called, so a process that sets a variable
before asking gets it; :mod:`gmcrm.paths` asks once, at import. Airflow's own settings (connections in
``AIRFLOW_CONN_*``, ``AIRFLOW__*``) are Airflow's and not read here. Pure: imports nothing of gmcrm.

| variable | default | what |
| --- | --- | --- |
| ``GMCRM_PROJECT_ROOT`` | the checkout (``plugins/..``) | where ``include/`` is (a deployment may mount it) |
| ``GMCRM_HOME`` | ``<project root>/.gmcrm`` | local state: the embedded PostgreSQL's data, the demo's |
| ``GMCRM_DMS_URL`` | none: the embedded PostgreSQL | the DMS of the ``gmcrm`` commands, ``make demo``/``run`` |
| ``GMCRM_GM_MAPPING`` | ``config/gm_crm.yaml`` | GM's object and field names |
| ``GMCRM_TRIGGER_CATALOGUE`` | ``config/triggers.yaml`` | the GM trigger catalogue |
| ``GMCRM_IMPORT_MAX_TASKS`` | 20 | the most mapped load tasks an import run makes (Airflow's limits lower it) |
| ``GMCRM_DEALERS_PER_TASK`` | automatic | dealerships per mapped import task, overriding the automatic grouping |
| ``GMCRM_LOAD_ROWS_PER_TRANSACTION`` | 1000 | rows (whole dealerships) per load transaction; ``0``: one each |
| ``GMCRM_TASK_PRELOAD`` | on | ``0``: no import of the tasks' modules before forking them (``gmcrm.preload``) |
| ``GMCRM_CLAIM_LEASE_SECONDS`` | 600 | a send claim's fallback lease (freed at once when its sender's session ends) |
| ``GMCRM_UI_PORT`` | 8080 | ``make run``: the port of Airflow's UI and API |
| ``GMCRM_DEMO_LEADS`` | 8 | ``make demo``: generated leads per dealership |
| ``GMCRM_RESILIENCE_DEBUG`` | off | ``make resilience``: print each DAG run's state and time |
| ``GMCRM_SEND_WAKEUP`` | on | ``off``: no watcher on the outbox; the send DAG runs on its schedule and imports only |
| ``GMCRM_SEND_WAKEUP_QUIET_SECONDS`` | 1.5 | a burst of DMS events ends after this long without another |
| ``GMCRM_SEND_WAKEUP_MAX_WAIT_SECONDS`` | 5 | ... or this long after its first event, whichever comes first |
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = "GMCRM_PROJECT_ROOT"
HOME = "GMCRM_HOME"
DMS_URL = "GMCRM_DMS_URL"
GM_MAPPING = "GMCRM_GM_MAPPING"
TRIGGER_CATALOGUE = "GMCRM_TRIGGER_CATALOGUE"
DEALERS_PER_TASK = "GMCRM_DEALERS_PER_TASK"
IMPORT_MAX_TASKS = "GMCRM_IMPORT_MAX_TASKS"
LOAD_ROWS_PER_TRANSACTION = "GMCRM_LOAD_ROWS_PER_TRANSACTION"
TASK_PRELOAD = "GMCRM_TASK_PRELOAD"
CLAIM_LEASE_SECONDS = "GMCRM_CLAIM_LEASE_SECONDS"
UI_PORT = "GMCRM_UI_PORT"
DEMO_LEADS = "GMCRM_DEMO_LEADS"
RESILIENCE_DEBUG = "GMCRM_RESILIENCE_DEBUG"
SEND_WAKEUP = "GMCRM_SEND_WAKEUP"
SEND_WAKEUP_QUIET_SECONDS = "GMCRM_SEND_WAKEUP_QUIET_SECONDS"
SEND_WAKEUP_MAX_WAIT_SECONDS = "GMCRM_SEND_WAKEUP_MAX_WAIT_SECONDS"
SEND_LANES = "GMCRM_SEND_LANES"

DEFAULT_DEMO_LEADS = 8
DEFAULT_WAKEUP_QUIET_SECONDS = 1.5
DEFAULT_WAKEUP_MAX_WAIT_SECONDS = 5.0
DEFAULT_CLAIM_LEASE_SECONDS = 600
#: Two: one lane waits on GM's answer, then on the database, about half of its time; two keep both cores of
#: the benchmark machine busy (``benchmarks/send_lanes.py``: 1.90x one lane's events/s; three 2.44x, but
#: the 1,000-dealership cycle already meets its 60 s with two while the loads share the cores).
DEFAULT_SEND_LANES = 2
MAX_SEND_LANES = 8
#: Rows per call of ``gmcrm.load_dealers``. A call costs ~0.6 ms of CPU to start however few its rows, so a
#: call per dealership cost ~6 us a lead at 100 leads each; but its rows cost more each as they grow past a
#: few thousand (the statement's intermediate results outgrow the processor's caches: 5,000 rows cost
#: 25-30 % more per row than 2,000). Measured on the 2-core benchmark machine (``bench_import.py``, CPU
#: per lead of transform + load, two load tasks at once): 500 rows 108-113 us, 1,000 rows 100-110, 2,000
#: rows 108-118; a dealership (100 rows) per call, with the rest of this change, about 115-125.
DEFAULT_LOAD_ROWS_PER_TRANSACTION = 1_000


def project_root(default: Path) -> Path:
    return Path(os.environ.get(PROJECT_ROOT, default))


def home(project_root: Path) -> Path:
    return Path(os.environ.get(HOME, project_root / ".gmcrm"))


def dms_url() -> str | None:
    """The DMS database URL given, if any (empty: none)."""
    return os.environ.get(DMS_URL) or None


def gm_mapping_file() -> str | None:
    return os.environ.get(GM_MAPPING) or None


def trigger_catalogue_file() -> str | None:
    return os.environ.get(TRIGGER_CATALOGUE) or None


def dealers_per_task() -> int | None:
    """A whole number of at least 1 when set; None (the automatic grouping) when not set or not one."""
    return _positive(DEALERS_PER_TASK)


def load_rows_per_transaction() -> int:
    """``GMCRM_LOAD_ROWS_PER_TRANSACTION``: 0 (each dealership in its own transaction) or more; a value
    that is not a whole number, or a negative one, counts as the default."""
    try:
        value = int(os.environ.get(LOAD_ROWS_PER_TRANSACTION, "").strip())
    except ValueError:
        return DEFAULT_LOAD_ROWS_PER_TRANSACTION
    return value if value >= 0 else DEFAULT_LOAD_ROWS_PER_TRANSACTION


def import_max_tasks() -> int | None:
    """A whole number of at least 1 when set; None (the default, see gmcrm.leads.grouping) otherwise."""
    return _positive(IMPORT_MAX_TASKS)


def task_preload() -> bool:
    """On unless ``GMCRM_TASK_PRELOAD`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(TASK_PRELOAD, "1").strip().lower() not in ("0", "false", "no", "off")


def send_lanes() -> int:
    """The send's parallel lanes when a run's ``lanes`` param is empty: ``GMCRM_SEND_LANES``, at most 8 (a
    larger value counts as 8; zero, a negative value or one that is not a whole number as the default)."""
    value = _positive(SEND_LANES) or DEFAULT_SEND_LANES
    return min(value, MAX_SEND_LANES)


def _positive(name: str) -> int | None:
    try:
        value = int(os.environ.get(name, "").strip())
    except ValueError:
        return None
    return value if value > 0 else None


def claim_lease_seconds() -> int:
    """The fallback lease of a send claim, for a sender whose session lingers without sending (a hung
    worker): at least 30 seconds; a value that is not a whole number counts as the default. A sender
    that dies (killed, worker lost, run failed) frees its claims as soon as PostgreSQL ends its session."""
    try:
        return max(30, int(os.environ.get(CLAIM_LEASE_SECONDS, str(DEFAULT_CLAIM_LEASE_SECONDS))))
    except ValueError:
        return DEFAULT_CLAIM_LEASE_SECONDS


def ui_port_text() -> str:
    """``GMCRM_UI_PORT`` as given (stripped; empty when not set): ``make run`` checks it."""
    return os.environ.get(UI_PORT, "").strip()


def demo_leads() -> int:
    return int(os.environ.get(DEMO_LEADS, str(DEFAULT_DEMO_LEADS)))


def resilience_debug() -> bool:
    return bool(os.environ.get(RESILIENCE_DEBUG))


def send_wakeup() -> bool:
    """The outbox watcher is on unless ``GMCRM_SEND_WAKEUP`` says off (``off``, ``0``, ``false``, ``no``)."""
    return os.environ.get(SEND_WAKEUP, "on").strip().lower() not in ("off", "0", "false", "no")


def _seconds(name: str, default: float) -> float:
    """A positive number of seconds; anything else counts as the default."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def send_wakeup_quiet_seconds() -> float:
    return _seconds(SEND_WAKEUP_QUIET_SECONDS, DEFAULT_WAKEUP_QUIET_SECONDS)


def send_wakeup_max_wait_seconds() -> float:
    return _seconds(SEND_WAKEUP_MAX_WAIT_SECONDS, DEFAULT_WAKEUP_MAX_WAIT_SECONDS)
