"""The send's default lanes: ``GMCRM_SEND_LANES`` (2 unless set), read when the task runs; the run's
``lanes`` param overrides it."""

from __future__ import annotations

import pytest

from gmcrm import settings
from gmcrm.send.pipeline import SendParams


@pytest.mark.parametrize(
    ("value", "lanes"),
    [(None, 2), ("1", 1), ("4", 4), ("99", 8), ("0", 2), ("-3", 2), ("two", 2), ("", 2)],
)
def test_send_lanes_setting(monkeypatch: pytest.MonkeyPatch, value: str | None, lanes: int) -> None:
    if value is None:
        monkeypatch.delenv(settings.SEND_LANES, raising=False)
    else:
        monkeypatch.setenv(settings.SEND_LANES, value)
    assert settings.send_lanes() == lanes


def test_an_empty_lanes_param_takes_the_setting_and_a_given_one_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.SEND_LANES, "3")
    assert SendParams.from_params({"lanes": None}).lanes == 3
    assert SendParams.from_params({}).lanes == 3
    assert SendParams.from_params({"lanes": 1}).lanes == 1
    monkeypatch.delenv(settings.SEND_LANES)
    assert SendParams.from_params({}).lanes == settings.DEFAULT_SEND_LANES == 2
