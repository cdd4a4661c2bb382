"""When to try a mail again, and which errors mean the mail server is down: shared by the
notice deliveries (outbox.py) and the single mails (mailqueue.py)."""

from __future__ import annotations

import datetime as dt
import smtplib

BACKOFF_BASE_SECONDS = 60
BACKOFF_MAX_SECONDS = 6 * 3600
# Errors that mean the mail server is unreachable: the rest of the batch waits for the next run.
SMTP_DOWN = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, TimeoutError)


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: 1, 2, 4, … minutes, at most six hours."""
    return dt.timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))
