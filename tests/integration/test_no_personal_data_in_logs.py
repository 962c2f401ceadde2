"""No personal data in any task log or CLI output, and no cause lost (issue 8, item 6).

The DAGs run through ``dag.test()`` over GM leads whose every text field carries a CPF, a CNPJ, an
e-mail and a phone (formatted and unformatted), with failures injected whose messages quote those
values: a DMS trigger that raises while a dealership loads (caught, recorded, the task fails), one
that raises while the extract stages (the exception escapes the task), a GM fault on the query (it
escapes too) and GM refusing each event with a message that quotes the customer. Every line the
tasks log (stdout/stderr of the in-process task runner, and any task log file) and the CLI output
are scanned: none of the values appears, while the constraint, column and SQLSTATE do.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from gmcrm.cli import app
from gmcrm.normalize import document_key, phone_valid
from gmcrm_sandbox.process import SandboxProcess
from tests.integration.dags.test_dags import airflow_db, dagbag  # noqa: F401 - fixtures
from tests.integration.helpers.imports import create_leads, lead, scalar
from tests.integration.helpers.send import seed

CPF_FORMATTED = "529.982.247-25"
CPF_PLAIN = "11144477735"
CNPJ_FORMATTED = "11.222.333/0001-81"
CNPJ_PLAIN = "45723174000110"
EMAIL = "joana.silva@exemplo.com.br"
PHONE_FORMATTED = "(11) 98765-4321"
PHONE_PLAIN = "21987651234"
PHONE_INTERNATIONAL = "+55 31 99876-5432"

PERSONAL = (
    CPF_FORMATTED,
    CPF_PLAIN,
    CNPJ_FORMATTED,
    CNPJ_PLAIN,
    EMAIL,
    PHONE_FORMATTED,
    PHONE_PLAIN,
    PHONE_INTERNATIONAL,
)
#: What must never be printed: each value as written, its digits alone, and the e-mail's local part.
NEEDLES = sorted({*PERSONAL, *(re.sub(r"\D", "", v) for v in PERSONAL if "@" not in v), "joana.silva"})
EVERYTHING = (
    f"Joana {CPF_FORMATTED} {CPF_PLAIN} {CNPJ_FORMATTED} {CNPJ_PLAIN} {EMAIL} {PHONE_FORMATTED} {PHONE_PLAIN} "
    f"{PHONE_INTERNATIONAL}"
)
# GM's name, model and trim fields hold 80 characters: a CPF, a CNPJ, an e-mail and a phone each.
SHORT_A = f"Jo {CPF_FORMATTED} {CNPJ_PLAIN} {EMAIL} {PHONE_PLAIN}"
SHORT_B = f"Jo {CPF_PLAIN} {CNPJ_FORMATTED} {EMAIL} {PHONE_FORMATTED}"
TEXT_FIELDS = {
    "First_Name__c": SHORT_A,
    "Last_Name__c": SHORT_B,
    "Model_Of_Interest__c": SHORT_A,
    "Trim__c": SHORT_B,
    "Comments__c": EVERYTHING,
}

runner = CliRunner()


def test_the_values_are_valid() -> None:
    """The scan means something only if the values are real documents and phones."""
    for doc in (CPF_FORMATTED, CPF_PLAIN, CNPJ_FORMATTED, CNPJ_PLAIN):
        assert document_key(doc)[0] is not None, doc
    for phone in (PHONE_FORMATTED, PHONE_PLAIN, PHONE_INTERNATIONAL):
        assert phone_valid(phone), phone
    assert max(len(SHORT_A), len(SHORT_B)) <= 80


def _personal_lead(dealer_code: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(TEXT_FIELDS)
    fields.update(
        Email__c=EMAIL,
        Document_Number__c=CPF_FORMATTED,
        Phone__c=PHONE_FORMATTED,
        Mobile_Phone__c=PHONE_INTERNATIONAL,
    )
    fields.update(extra)
    return lead(dealer_code, **fields)


@pytest.fixture
def no_retries(dagbag: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: F811
    """Each injected failure fails its task at once (the DAGs retry with backoff in production)."""
    for dag_id in ("gmcrm_import_leads", "gmcrm_send_triggers"):
        for task in dagbag.dags[dag_id].tasks:
            monkeypatch.setattr(task, "retries", 0)
    yield


@pytest.fixture
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What Airflow's stdlib log handler writes (gmcrm's loggers and every other stdlib logger of the
    task). It keeps the stream it was configured with, which under pytest is not one capfd reads."""
    from structlog.stdlib import ProcessorFormatter

    buffer = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, ProcessorFormatter)]
    assert handlers, "Airflow's logging is not configured"
    for handler in handlers:
        assert isinstance(handler, logging.StreamHandler)
        monkeypatch.setattr(handler, "stream", buffer)
    return buffer


def _task_log_files(since: float) -> str:
    from airflow.configuration import conf

    base = Path(conf.get("logging", "base_log_folder"))
    texts = [p.read_text(errors="replace") for p in base.rglob("*") if p.is_file() and p.stat().st_mtime >= since]
    return "\n".join(texts)


def _leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


def test_no_personal_data_in_task_logs_or_cli(
    airflow_db: None,  # noqa: F811
    dagbag: Any,  # noqa: F811
    no_retries: None,
    dms_conn_env: str,
    gm_sandbox: SandboxProcess,
    capfd: pytest.CaptureFixture[str],
    stdlib_task_log: io.StringIO,
) -> None:
    started = time.time()
    with psycopg.connect(dms_conn_env) as conn:
        seed(conn)
    created = create_leads(
        gm_sandbox,
        _personal_lead("BR0001"),
        _personal_lead("BR0001", Document_Number__c=CNPJ_PLAIN, Phone__c=PHONE_PLAIN, Mobile_Phone__c=None),
        _personal_lead("BR0003", Document_Number__c=CPF_PLAIN, Email__c=f"  {EMAIL.upper()} "),
    )
    import_dag, send_dag = dagbag.dags["gmcrm_import_leads"], dagbag.dags["gmcrm_send_triggers"]
    capfd.readouterr()

    # 1. GM refuses the query with a message quoting the customer: the error escapes extract_leads.
    gm_sandbox.admin.add_fault(
        {"kind": "status", "status": 400, "applies_to": "query", "count": 1, "message": f"bad lead {EVERYTHING}"}
    )
    import_dag.test()
    gm_sandbox.admin.clear_faults()

    # 2. The DMS refuses the staged records, quoting them: the database error escapes extract_leads.
    with psycopg.connect(dms_conn_env, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION public.refuse_staging() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'cannot stage %', NEW.record::text "
            "USING DETAIL = 'e-mail ' || (NEW.record->>'Email__c'), ERRCODE = 'P0001'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_staging BEFORE INSERT ON gmcrm.lead_staging "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse_staging()"
        )
    import_dag.test()

    # 3. The DMS refuses the customer while BR0001 loads, quoting it: the load records it and fails.
    with psycopg.connect(dms_conn_env, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse_staging ON gmcrm.lead_staging")
        conn.execute(
            "CREATE FUNCTION public.refuse_customer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.dealer_code = 'BR0001' THEN RAISE EXCEPTION 'bad customer % %', NEW.email, NEW.document "
            "USING DETAIL = 'phone ' || coalesce(NEW.phone, '') || ' name ' || NEW.name, ERRCODE = 'check_violation', "
            "TABLE = 'customer', COLUMN = 'email', CONSTRAINT = 'customer_contact_ok'; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse_customer BEFORE INSERT ON dms.customer "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse_customer()"
        )
    import_dag.test()

    # 4. Everything loads; GM then refuses every event with a message quoting the customer.
    with psycopg.connect(dms_conn_env, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse_customer ON dms.customer")
    import_dag.test()
    assert scalar(dms_conn_env, "SELECT count(*) FROM dms.contact") == len(created)
    gm_sandbox.admin.add_fault(
        {
            "kind": "record_error",
            "status_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": f"customer {EVERYTHING} refused",
            "count": 100,
        }
    )
    send_dag.test()
    gm_sandbox.admin.clear_faults()
    assert scalar(dms_conn_env, "SELECT count(*) FROM gmcrm.trigger_outbox WHERE status = 'FAILED'") > 0

    captured = capfd.readouterr()
    task_logs = captured.out + captured.err + stdlib_task_log.getvalue() + _task_log_files(started)

    # The CLI shows the failed events and each lead's log.
    cli_output = []
    for args in (
        ["events", "list", "--status", "FAILED", "--dms-url", dms_conn_env],
        *(["lead-log", str(c["Id"]), "--json", "--dms-url", dms_conn_env] for c in created),
    ):
        result = runner.invoke(app, args)
        cli_output.append(result.output)
    cli = "\n".join(cli_output)

    assert "Task failed with exception" in task_logs  # the escaping errors were logged
    assert "load failed" in task_logs  # and so were gmcrm's own lines (the stdlib handler)
    assert _leaks(task_logs) == [], "personal data in a task log"
    assert _leaks(cli) == [], "personal data in the CLI output"
    # What a person needs is kept: SQLSTATE, table, column and constraint of the database errors,
    # GM's error codes.
    assert "SQLSTATE 23514" in task_logs and "constraint customer_contact_ok" in task_logs
    assert "column email" in task_logs and "table customer" in task_logs
    assert "SQLSTATE P0001" in task_logs and "cannot stage" in task_logs
    assert "MALFORMED_QUERY" in task_logs
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in cli and "refused" in cli


def test_the_task_process_json_logs_are_masked(tmp_path: Path) -> None:
    """In production the task runs in its own process and sends its log lines as JSON to the
    supervisor: the same masking applies there, to structlog and stdlib loggers, exceptions included.
    Run in a subprocess: it configures Airflow's task logging as the task runner does."""
    import json
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import io, logging, sys
        import structlog
        from airflow.sdk.log import configure_logging
        from gmcrm_log_masking_plugin import MaskTaskLogs

        out = io.BytesIO()
        configure_logging(json_output=True, output=out, sending_to_supervisor=True)
        MaskTaskLogs().on_task_instance_running(previous_state=None, task_instance=None)
        try:
            raise ValueError({EVERYTHING!r})
        except ValueError:
            structlog.get_logger(logger_name="task").exception("Task failed with exception")
            logging.getLogger("any.library").error("saw %s", {EMAIL!r}, exc_info=True)
        sys.stdout.write(out.getvalue().decode())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["Task failed with exception", "saw j***@exemplo.com.br"]
    assert _leaks(result.stdout) == []
    assert all(line["cause"].startswith("ValueError: Joana ***") for line in lines), lines
    assert all(line["exception"][0]["exc_type"] == "ValueError" for line in lines)  # still structured
