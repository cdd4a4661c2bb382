"""The outbox's one retry policy: when to try again, when to give up, and which errors mean the
mail server is down. Every row of the outbox (notice deliveries, summaries and single mails)
goes through `after_failure`; see queue.py."""

from __future__ import annotations

import datetime as dt
import smtplib

from .transport import PermanentError

BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 6 * 3600
# Errors that mean the mail server is unreachable: the rest of the batch waits for the next run.
SMTP_DOWN = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError)


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: 1, 2, 4, … minutes, at most six hours."""
    return dt.timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def error_text(error: BaseException) -> str:
    """The error as kept in `last_error`: its type and message, bounded."""
    return f"{type(error).__name__}: {error}"[:2000]


def gives_up(error: BaseException, attempts: int, max_attempts: int) -> bool:
    """Whether a failed attempt is the last: a permanent refusal, or `[mail] max_attempts` used up."""
    return isinstance(error, PermanentError) or attempts >= max_attempts
