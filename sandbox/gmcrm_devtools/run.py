"""`make run`: the integration kept running under Airflow standalone, on the embedded defaults.

Starts the embedded PostgreSQL and the GM CRM sandbox (unless real connections are configured),
migrates and seeds the DMS, migrates Airflow's metadata, then runs ``airflow standalone``
(scheduler, DAG processor, triggerer, API server and UI) with both DAGs unpaused on their
5-minute schedule. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from gmcrm import migrate
from gmcrm.dms_catalogues import seed_demo_world
from gmcrm.paths import STATE_DIR
from gmcrm_devtools import environment


def prepare(leads_per_dealer: int = 12, state_dir: Path = STATE_DIR / "run") -> environment.DevEnvironment:
    env = environment.start(leads_per_dealer=leads_per_dealer, state_dir=state_dir)
    migrate.upgrade(env.dms_url)
    with psycopg.connect(env.dms_url) as conn:
        seed_demo_world(conn)
    environment.airflow_db_migrate()
    return env


def main() -> int:
    env = prepare()
    port = env.env["AIRFLOW__API__PORT"]
    password = json.loads((env.airflow_home / "passwords.json").read_text(encoding="utf-8"))["admin"]
    print(
        "\n".join(
            [
                "",
                "gmcrm is running under Airflow standalone.",
                f"  UI:        http://localhost:{port}  (user: admin, password: {password})",
                f"  password:  kept in {env.airflow_home / 'passwords.json'}",
                "  DAGs:      gmcrm_import_leads and gmcrm_send_triggers, unpaused, every 5 minutes",
                f"  GM CRM:    {env.sandbox.instance_url + ' (sandbox)' if env.sandbox else 'AIRFLOW_CONN_GM_CRM'}",
                "  DMS:       " + ("embedded PostgreSQL under .gmcrm/" if env.embedded else "GMCRM_DMS_URL"),
                "  Stop with Ctrl-C.",
                "",
            ]
        ),
        flush=True,
    )
    # standalone starts its components as `airflow ...` commands: the venv's bin must be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    env_vars = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    try:
        return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env_vars)
    except KeyboardInterrupt:
        return 0
    finally:
        env.stop()


if __name__ == "__main__":
    raise SystemExit(main())
