"""Redacting every log line the worker process writes while a task's secrets are loaded.

browser-use logs URLs, extracted text and errors at INFO; any of them can hold a secret the
page echoed. A filter on every handler (ours, the library's, the root's) rewrites each record
through the task's Redactor before it is formatted.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from browser_tasks.domain.redaction import Redactor


class RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.text(record.getMessage())
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._redactor.text(text)
            record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "exc_text"):
                setattr(record, key, self._redactor.text(value))
        return True


def _all_handlers() -> set[logging.Handler]:
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return {handler for logger in loggers for handler in logger.handlers}


@contextmanager
def redacted_logs(redactor: Redactor) -> Iterator[None]:
    """While the block runs, every handler that exists when it starts redacts.

    browser-use sets its handlers up when it is imported, which the worker does at cold start,
    before any task's secrets are loaded.
    """
    if not redactor:
        yield
        return
    log_filter = RedactingFilter(redactor)
    covered = _all_handlers()
    for handler in covered:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        for handler in covered:
            handler.removeFilter(log_filter)
