"""Getting a mail out: the `smtp` backend (smtplib, STARTTLS, credentials from the
environment) and the `file` backend (one `.eml` file per mail, for the demo and tests)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from ..settings import Settings

SMTP_TIMEOUT_SECONDS = 30


class PermanentError(Exception):
    """The receiving side refused this message for good (e.g. SMTP 550 unknown mailbox)."""


class FileMailer:
    """Writes each message as `<UTC time>-<random>.eml` into `outbox_dir` (atomically)."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.path(settings.mail.outbox_dir)

    def __enter__(self) -> FileMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, msg: EmailMessage) -> None:
        """Store `msg`; readers never see a half-written file (written as .tmp, then renamed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        final = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        tmp = final.with_name("." + final.name + ".tmp")
        tmp.write_bytes(msg.as_bytes())
        os.replace(tmp, final)


class SmtpMailer:
    """One SMTP connection, opened on the first send and reopened after it breaks."""

    def __init__(self, settings: Settings) -> None:
        self.mail = settings.mail
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.mail.smtp_host, self.mail.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            smtp.ehlo()
            if self.mail.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.mail.smtp_username:
                smtp.login(self.mail.smtp_username, self.mail.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, msg: EmailMessage) -> None:
        """Send `msg`; `PermanentError` when every recipient is refused with a 5xx reply."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def close(self) -> None:
        """Say goodbye politely when the connection still works."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def open_mailer(settings: Settings) -> FileMailer | SmtpMailer:
    """The mailer for `[mail] backend`."""
    return SmtpMailer(settings) if settings.mail.backend == "smtp" else FileMailer(settings)


def outbox_files(settings: Settings) -> list[Path]:
    """The `.eml` files of the file backend, oldest first (for the demo and tests)."""
    folder = settings.path(settings.mail.outbox_dir)
    return sorted(folder.glob("*.eml")) if folder.exists() else []
