"""Logs that never show a full CPF/CNPJ, e-mail or phone number, and never lose an error's cause.

Two layers:

- every gmcrm module logs through :func:`get_logger`; its filter masks the rendered message and
  renders any exception itself (masked traceback plus :func:`gmcrm.errors.causes_text`: class,
  message, SQLSTATE, table, column, constraint), so the text is safe whatever handler prints it
  (the CLI, tests, Airflow);
- inside Airflow, :func:`install_log_masking` adds two structlog processors to the task's logging
  (structlog and the stdlib bridge): the first notes the cause of any exception being logged, the
  last masks every value of the event just before it is rendered, the traceback included. That
  covers what gmcrm does not log itself, above all the exception that escapes a task, which the task
  runner logs ("Task failed with exception") with its full text. The plugin
  ``plugins/gmcrm_log_masking_plugin.py`` installs it when a task starts, for any code of any DAG.

Airflow's own secrets masker cannot do this: it hides literal values it was told about
(``mask_secret``), not patterns, and in the console format it runs before the traceback is rendered.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

from gmcrm.errors import causes_text
from gmcrm.normalize import mask_text

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exc_info(value: Any) -> ExcInfo | None:
    """structlog's and logging's ways of passing an exception (True, an exception, a tuple) as a tuple."""
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value
    if value is True:
        current = sys.exc_info()
        return current if current[1] is not None else None
    return None


def exception_text(exc_info: ExcInfo, with_cause: bool = True) -> str:
    """The causes a person needs on one line (the line a UI shows first), then the traceback as Python
    prints it; all masked."""
    rendered = "".join(traceback.format_exception(*exc_info)).rstrip()
    return mask_text(f"cause: {causes_text(exc_info[1])}\n{rendered}" if with_cause else rendered)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        exc_info = _exc_info(record.exc_info)
        if exc_info is not None:
            # Database errors quote the offending values: the traceback goes into the message, masked,
            # with the cause (SQLSTATE, constraint...), so no handler renders the raw exception.
            masked = f"{masked}\n{exception_text(exc_info)}"
            record.exc_info, record.exc_text = None, None
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER = MaskingFilter()


def plural(count: int, word: str) -> str:
    """A count as the lines a person reads say it: ``1 lead``, ``2 leads`` (a word plural with an s)."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


# ---------------------------------------------------------------------------------------------
# structlog (Airflow's task logs)


def mask_value(value: Any) -> Any:
    """``value`` with personal data masked in every string, however deeply nested; other objects are
    replaced by their masked ``repr`` only when that ``repr`` shows something to mask."""
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_value(v) for v in value)
    if isinstance(value, BaseException):
        return mask_text(f"{type(value).__name__}: {value}")
    try:
        shown = repr(value)
    except Exception:  # a broken __repr__ must not break logging
        return value
    masked = mask_text(shown)
    return value if masked == shown else masked


def note_cause(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """First processor: an event with an exception gets ``cause`` (masked class, message, SQLSTATE, table,
    column, constraint of it and its causes) before anything renders the exception."""
    exc_info = _exc_info(event_dict.get("exc_info") or event_dict.get("exception"))
    if exc_info is not None and "cause" not in event_dict:
        event_dict["cause"] = causes_text(exc_info[1])
    return event_dict


def mask_event(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last processor before the renderer: masks every value; an exception not rendered yet (the console
    format renders it last) is rendered here, masked."""
    exc_info = _exc_info(event_dict.pop("exc_info", None))
    if exc_info is not None:
        event_dict["exception"] = exception_text(exc_info, with_cause="cause" not in event_dict)
    for key, value in list(event_dict.items()):
        if not key.startswith("_"):
            event_dict[key] = mask_value(value)
    return event_dict


def _with(processors: Any, processor: Any, at_end: bool) -> list[Any] | None:
    """``processors`` with ``processor`` first, or just before the renderer (the last one); None when
    it is there already or the chain is empty."""
    chain = list(processors or ())
    if processor in chain or (at_end and not chain):
        return None
    chain.insert(len(chain) - 1 if at_end else 0, processor)
    return chain


def _update(owner: Any, attribute: str, processor: Any, at_end: bool) -> bool:
    current = getattr(owner, attribute)
    chain = _with(current, processor, at_end)
    if chain is None:
        return False
    if isinstance(current, list):
        current[:] = chain  # in place: loggers made (and cached) already hold this very list
    else:
        setattr(owner, attribute, chain)
    return True


def install_log_masking() -> bool:
    """Mask what Airflow's current logging configuration renders: structlog loggers and the stdlib
    handlers that format through structlog. Idempotent. True when something was installed."""
    import structlog
    from structlog.stdlib import ProcessorFormatter

    changed = False
    config = structlog.get_config()
    # Only a chain that ends in a renderer (Airflow's); structlog's untouched defaults are left alone.
    if structlog.is_configured() and isinstance(config["processors"], list):
        changed |= _update_list(config["processors"])
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        if isinstance(formatter, ProcessorFormatter):
            changed |= _update(formatter, "foreign_pre_chain", note_cause, at_end=False)
            changed |= _update(formatter, "processors", mask_event, at_end=True)
    return changed


def _update_list(processors: list[Any]) -> bool:
    first = _with(processors, note_cause, at_end=False)
    if first is None:
        return False
    both = _with(first, mask_event, at_end=True)
    processors[:] = both if both is not None else first
    return True
