"""The wake-up's settings: on by default, off by a few spellings, seconds that make sense or the default."""

from __future__ import annotations

import pytest

from gmcrm import settings


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (None, True),
        ("on", True),
        ("1", True),
        ("off", False),
        (" OFF ", False),
        ("0", False),
        ("false", False),
        ("no", False),
    ],
)
def test_send_wakeup_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool) -> None:
    if value is None:
        monkeypatch.delenv(settings.SEND_WAKEUP, raising=False)
    else:
        monkeypatch.setenv(settings.SEND_WAKEUP, value)
    assert settings.send_wakeup() is on


@pytest.mark.parametrize(("value", "seconds"), [("3", 3.0), ("0.5", 0.5), ("0", 1.5), ("-2", 1.5), ("soon", 1.5)])
def test_quiet_seconds(monkeypatch: pytest.MonkeyPatch, value: str, seconds: float) -> None:
    monkeypatch.setenv(settings.SEND_WAKEUP_QUIET_SECONDS, value)
    assert settings.send_wakeup_quiet_seconds() == seconds


def test_max_wait_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.SEND_WAKEUP_MAX_WAIT_SECONDS, raising=False)
    assert settings.send_wakeup_max_wait_seconds() == settings.DEFAULT_WAKEUP_MAX_WAIT_SECONDS
