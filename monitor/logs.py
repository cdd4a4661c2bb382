"""Logging: plain text or one JSON object per line, with the request id, without personal data.

Email addresses are masked in every record (``a***@example.dk``): subscribers' addresses
must not end up in log files. Secrets are never logged in the first place.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import typing

from .settings import LoggingSettings

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def mask_emails(text: str) -> str:
    """Replace every email address in `text` by its first letter, stars and its domain."""
    return EMAIL.sub(r"\1***@\2", text)


class ContextFilter(logging.Filter):
    """Adds the request id and masks email addresses in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        masked = mask_emails(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            doc["exception"] = mask_emails(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


class StderrHandler(logging.StreamHandler[typing.TextIO]):
    """Writes to whatever `sys.stderr` is when a record is emitted (as logging's last resort
    does), so a stream swapped out and closed meanwhile (a test runner's capture) is never used."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> typing.TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure(settings: LoggingSettings, verbose: bool = False) -> None:
    """Configure the root logger once per process from `[logging]`."""
    handler = StderrHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if settings.json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else settings.level.upper())
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
