"""Logs never show a full CPF/CNPJ, e-mail or phone, even inside exception text."""

from __future__ import annotations

import logging

import pytest

from gmcrm.logs import get_logger


def test_messages_and_tracebacks_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("gmcrm.test_masking")
    with caplog.at_level(logging.INFO, logger="gmcrm.test_masking"):
        log.info("customer %s e-mail %s phone %s", "529.982.247-25", "Maria.Silva@Example.com", "(11) 98765-4321")
        try:
            raise ValueError("Key (email)=(joao@gmail.com) and CPF 52998224725 already exist")
        except ValueError:
            log.exception("load failed")
    text = caplog.text
    for secret in ("529.982.247-25", "52998224725", "Maria.Silva@", "98765-4321", "joao@gmail.com"):
        assert secret not in text
    assert "***25" in text
    assert "M***@Example.com" in text
    assert "ValueError" in text  # the traceback survives, masked


def test_lead_ids_and_dates_stay_readable() -> None:
    from gmcrm.normalize import mask_text

    text = "lead 0060S00000016QAA (006WD00000H4eBaYAJ) since 2026-11-27T10:00:00Z, phone 11987654321"
    masked = mask_text(text)
    assert "0060S00000016QAA" in masked and "006WD00000H4eBaYAJ" in masked
    assert "2026-11-27T10:00:00Z" in masked
    assert "11987654321" not in masked


def test_run_ids_and_log_timestamps_stay_readable() -> None:
    from gmcrm.normalize import mask_text

    text = "run manual__2026-11-30T02:38:52.581141+00:00 tries=1 2026-11-30 02:50:48, at 2026-11-30 02:38:57,286"
    assert mask_text(text) == text
    assert mask_text("2026-11-30 11987654321 ok") == "2026-11-30 ***21 ok"
    uuid = "ti_id=01a22a51-cd77-7539-9211-123456789012"
    assert mask_text(uuid) == uuid


def _database_error() -> BaseException:
    """A psycopg error with the diagnostics a CHECK violation carries (the server's fields, without a
    server: tests/integration/test_no_personal_data_in_logs.py raises the real one)."""
    from psycopg import errors

    class Diag:
        message_primary = "bad customer joana.silva@exemplo.com.br 529.982.247-25"
        message_detail = "phone (11) 98765-4321"
        table_name = "customer"
        column_name = "email"
        constraint_name = "customer_contact_ok"

    class CheckViolation(errors.CheckViolation):
        sqlstate = "23514"

        @property
        def diag(self) -> Diag:  # type: ignore[override]
            return Diag()

    try:
        raise CheckViolation(Diag.message_primary)
    except CheckViolation as exc:
        return exc


def test_the_masked_path_keeps_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("gmcrm.test_cause")
    exc = _database_error()
    with caplog.at_level(logging.INFO, logger="gmcrm.test_cause"):
        try:
            raise RuntimeError("load failed for BR0001") from exc
        except RuntimeError:
            log.exception("dealership %s: load failed", "BR0001")
    text = caplog.text
    assert "joana.silva" not in text and "98765-4321" not in text and "529.982.247-25" not in text
    assert "cause: RuntimeError: load failed for BR0001 <- CheckViolation: bad customer j***@exemplo.com.br" in text
    assert "SQLSTATE 23514; table customer; column email; constraint customer_contact_ok" in text


def test_structlog_processors_mask_every_value_and_the_exception() -> None:
    """What Airflow's task logs render goes through note_cause (first) and mask_event (last)."""
    from gmcrm.logs import mask_event, note_cause

    exc = _database_error()
    event = {
        "event": "Task failed with exception",
        "exc_info": (type(exc), exc, exc.__traceback__),
        "record": {"Email__c": "joana.silva@exemplo.com.br", "ids": ["11987654321", 3]},
        "phone": "(11) 98765-4321",
        "_record": object(),
    }
    out = mask_event(None, "error", note_cause(None, "error", dict(event)))
    rendered = repr(out)
    assert "joana.silva" not in rendered and "98765-4321" not in rendered and "11987654321" not in rendered
    assert out["record"] == {"Email__c": "j***@exemplo.com.br", "ids": ["***21", 3]}
    assert "exc_info" not in out and "CheckViolation: bad customer j***@exemplo.com.br" in out["exception"]
    assert "SQLSTATE 23514" in out["cause"] and "constraint customer_contact_ok" in out["cause"]
    assert out["_record"] is event["_record"]  # structlog's private keys are left alone


def test_install_log_masking_is_idempotent_and_changes_lists_in_place() -> None:
    import structlog

    from gmcrm.logs import install_log_masking, mask_event, note_cause

    before = structlog.get_config()
    renderer = structlog.dev.ConsoleRenderer(colors=False)
    chain = [structlog.processors.add_log_level, renderer]
    structlog.configure(processors=chain)
    try:
        assert install_log_masking() is True
        assert chain == [note_cause, structlog.processors.add_log_level, mask_event, renderer]
        assert install_log_masking() is False
        assert structlog.get_config()["processors"] is chain
    finally:
        structlog.configure(**before)
