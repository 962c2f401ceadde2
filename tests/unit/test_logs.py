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
