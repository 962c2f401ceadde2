"""Loggers that never show a full CPF/CNPJ, e-mail or phone number.

Every gmcrm module logs through :func:`get_logger`; its filter masks the rendered message and any
exception text (database errors quote the offending values) before a handler sees them.
"""

from __future__ import annotations

import logging

from gmcrm.normalize import mask_text


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Database errors quote the offending values: keep the traceback, masked, as text.
            record.exc_text = mask_text(_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        return True


_FORMATTER = logging.Formatter()


_FILTER = MaskingFilter()


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
