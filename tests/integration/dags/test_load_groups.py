"""The import's mapped load tasks through ``dag.test()`` (issue 11): few dealerships get one task each,
named by their code; ``GMCRM_IMPORT_MAX_TASKS`` bounds the number of tasks; a dealership whose load failed
is the first task (map index 0, which the scheduler starts first) of the next run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from gmcrm_sandbox.process import SandboxProcess
from tests.integration.helpers.dags import airflow_db, dagbag, state, without_retries, xcom  # noqa: F401 (fixtures)
from tests.integration.helpers.imports import contact_transactions, create_leads, lead, refuse_contacts_of
from tests.integration.helpers.send import seed

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(dms_conn_env: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dms_conn_env, autocommit=True) as connection:
        seed(connection)
        yield connection


def _loads(run: Any) -> list[tuple[str, str]]:
    """(label, state) of the run's load tasks, by map index."""
    tis = sorted((ti for ti in run.get_task_instances() if ti.task_id == "load_dealerships"), key=lambda t: t.map_index)
    return [(str(ti.rendered_map_index), state(ti)) for ti in tis]


def test_a_failed_load_is_the_first_task_of_the_next_run_and_the_setting_bounds_the_tasks(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    gm_sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dag = dagbag.dags["gmcrm_import_leads"]
    without_retries(monkeypatch, dag, "load_dealerships")
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0002"), lead("BR0003"))
    conn.execute(
        "CREATE FUNCTION public.refuse_br0003() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.dealer_code = 'BR0003' THEN RAISE EXCEPTION 'BR0003 is closed'; END IF; RETURN NEW; END $$"
    )
    conn.execute(
        "CREATE TRIGGER refuse_br0003 BEFORE INSERT ON dms.contact FOR EACH ROW EXECUTE FUNCTION public.refuse_br0003()"
    )

    first = dag.test()
    assert _loads(first) == [("BR0001", "success"), ("BR0002", "success"), ("BR0003", "failed")]

    conn.execute("DROP TRIGGER refuse_br0003 ON dms.contact")
    second = dag.test()
    assert state(second) == "success"
    assert _loads(second) == [("BR0003", "success"), ("BR0001", "success"), ("BR0002", "success")]
    assert [g["dealer_codes"] for g in xcom(second, "extract_leads")] == [["BR0003"], ["BR0001"], ["BR0002"]]

    monkeypatch.setenv("GMCRM_IMPORT_MAX_TASKS", "2")  # read by the extract task at run time
    third = dag.test()
    assert state(third) == "success"
    assert [label for label, _ in _loads(third)] == ["BR0001", "BR0002..BR0003 (2)"]
    assert conn.execute("SELECT count(*) FROM dms.contact").fetchone() == (3,)


def test_one_task_loads_its_dealerships_in_one_transaction_and_a_failing_one_alone(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    conn: psycopg.Connection[Any],
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the DAG, one task holding the three dealerships (``GMCRM_DEALERS_PER_TASK=3``): a clean run
    loads them in one transaction, green; when one of them refuses its contacts, the task and the run end
    failed naming it, and the other two load in the same run, each in its own transaction."""
    dag = dagbag.dags["gmcrm_import_leads"]
    without_retries(monkeypatch, dag, "load_dealerships")
    monkeypatch.setenv("GMCRM_DEALERS_PER_TASK", "3")  # read by the extract task at run time
    monkeypatch.delenv("GMCRM_LOAD_ROWS_PER_TRANSACTION", raising=False)
    create_leads(gm_sandbox, lead("BR0001"), lead("BR0002"), lead("BR0003"))

    clean = dag.test()
    assert state(clean) == "success"
    [(label, task_state)] = _loads(clean)  # one task: its label names the three (overdue ones listed)
    assert task_state == "success" and label.endswith("(3)") and label.startswith("BR0001")
    [one] = set.union(*contact_transactions(dms_conn_env).values())
    assert contact_transactions(dms_conn_env) == {code: {one} for code in ("BR0001", "BR0002", "BR0003")}

    create_leads(gm_sandbox, lead("BR0001"), lead("BR0002"), lead("BR0003"))
    refuse_contacts_of(conn, "BR0002")
    failing = dag.test()
    assert state(failing) == "failed"
    assert [task_state for _label, task_state in _loads(failing)] == ["failed"]
    assert "BR0002" in xcom(failing, "all_dealerships_imported", "summary")
    second = {code: xmins - {one} for code, xmins in contact_transactions(dms_conn_env).items()}
    assert sorted(code for code, xmins in second.items() if xmins) == ["BR0001", "BR0003"]
    assert second["BR0001"] != second["BR0003"]  # loaded again one at a time, each in its own
    assert conn.execute(
        "SELECT dealer_code, stage FROM gmcrm.import_failure WHERE run_id = %s", (failing.run_id,)
    ).fetchall() == [("BR0002", "load")]
