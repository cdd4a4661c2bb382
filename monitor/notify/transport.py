"""Getting a mail out: the `smtp` backend (smtplib, STARTTLS, credentials from the
environment) and the `file` backend (one `.eml` file per mail, for the demo and tests)."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from types import TracebackType
from typing import TYPE_CHECKING

from ..settings import Settings
from .wire import WireMessage

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SMTP_TIMEOUT_SECONDS = 30


PROBE_TIMEOUT_SECONDS = 3
PROBE_CACHE_SECONDS = 300
_probes: dict[tuple[str, int], tuple[float, bool]] = {}


class PermanentError(Exception):
    """The receiving side refused this message for good (e.g. SMTP 550 unknown mailbox)."""


def wire_bytes(msg: WireMessage | EmailMessage) -> bytes:
    """The bytes of `msg`; an `EmailMessage` (from older callers) is written with the SMTP policy (CRLF)."""
    if isinstance(msg, WireMessage):
        return msg.as_bytes()
    return msg.as_bytes(policy=SMTPUTF8 if not all(str(a).isascii() for a in msg.get_all("To", [])) else SMTP)


def _envelope(msg: WireMessage | EmailMessage) -> tuple[str, list[str], bool]:
    if isinstance(msg, WireMessage):
        return msg.sender, [msg.recipient], msg.smtputf8
    from email.utils import getaddresses

    sender = getaddresses([str(msg["From"] or "")])[0][1]
    recipients = [a for _n, a in getaddresses([str(v) for v in msg.get_all("To", [])])]
    return sender, recipients, not all(a.isascii() for a in recipients)


class FileMailer:
    """Writes each message as `<UTC time>-<random>.eml` into `outbox_dir` (atomically)."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.path(settings.mail.outbox_dir)

    def __enter__(self) -> FileMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def supports_smtputf8(self) -> bool:
        """A file takes any address."""
        return True

    def send(self, msg: WireMessage | EmailMessage, begin: Callable[[], None] | None = None,
             ready: Callable[[], None] | None = None, meanwhile: Callable[[], None] | None = None) -> None:
        """Store `msg`; readers never see a half-written file (written as .tmp, then renamed).

        `begin` and `ready` are called first, as `SmtpMailer.send` calls them before the message
        goes; `meanwhile` last.
        """
        for hook in (begin, ready):
            if hook is not None:
                hook()
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        final = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        tmp = final.with_name("." + final.name + ".tmp")
        tmp.write_bytes(wire_bytes(msg))
        os.replace(tmp, final)
        if meanwhile is not None:
            meanwhile()


class _Client(smtplib.SMTP):
    """smtplib's client with two hooks: `ready`, called once the server has answered DATA with 354,
    before the message itself is written, and `meanwhile`, called once the message is written,
    before the server's answer to it is read (the bytes, and what goes over the wire, are smtplib's)."""

    ready: Callable[[], None] | None = None
    meanwhile: Callable[[], None] | None = None

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        """smtplib's `data`, calling `ready` between the DATA command and the message.

        A message is only delivered once the server has its final "." line, so whatever
        `ready` waits for is done before this message can arrive. When `ready` raises, the
        connection is dropped mid-message: the server discards it. `meanwhile` runs while the
        server takes the message (it must not raise, nor use this connection).
        """
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if self.ready is not None:
            try:
                self.ready()
            except BaseException:
                self.close()
                raise
        # As smtplib's own `data`: line ends of text made CRLF, a leading "." doubled.
        if isinstance(msg, str):
            data = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
        else:
            data = bytes(msg)
        data = re.sub(rb"(?m)^\.", b"..", data)
        if data[-2:] != b"\r\n":
            data += b"\r\n"
        self.send(data + b".\r\n")
        if self.meanwhile is not None:
            self.meanwhile()
        return self.getreply()


class SmtpMailer:
    """One SMTP connection, opened on the first send and reopened after it breaks."""

    def __init__(self, settings: Settings) -> None:
        self.mail = settings.mail
        self._smtp: _Client | None = None

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> _Client:
        smtp = _Client(self.mail.smtp_host, self.mail.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
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

    def supports_smtputf8(self) -> bool:
        """Whether the server offers SMTPUTF8 (connects if needed)."""
        if self._smtp is None:
            self._smtp = self._connect()
        return bool(self._smtp.has_extn("smtputf8"))

    def send(self, msg: WireMessage | EmailMessage, begin: Callable[[], None] | None = None,
             ready: Callable[[], None] | None = None, meanwhile: Callable[[], None] | None = None) -> None:
        """Send `msg`; `PermanentError` when every recipient is refused with a 5xx reply, or when
        the address needs SMTPUTF8 and the server does not offer it.

        `begin` is called just before the envelope goes and `ready` once the server has taken it,
        before the message itself goes: what `begin` starts overlaps the envelope's round trips,
        and `ready` waits for it. If `ready` raises, the message is abandoned. `meanwhile` is
        called once the message is written, while the server takes it, before its answer is read.
        """
        if self._smtp is None:
            self._smtp = self._connect()
        sender, recipients, utf8 = _envelope(msg)
        options: list[str] = []
        if utf8:
            if not self._smtp.has_extn("smtputf8"):
                raise PermanentError("the address needs SMTPUTF8, which the mail server does not offer")
            options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if self._smtp.has_extn("8bitmime") else [])
        self._smtp.ready, self._smtp.meanwhile = ready, meanwhile
        if begin is not None:
            begin()
        try:
            self._smtp.sendmail(sender, recipients, wire_bytes(msg), mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise PermanentError(f"message refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
            raise
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise
        finally:
            if self._smtp is not None:
                self._smtp.ready = self._smtp.meanwhile = None
                if self._smtp.sock is None:  # dropped mid-message (`ready` raised)
                    self._smtp = None

    def close(self) -> None:
        """Say goodbye politely when the connection still works."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def smtputf8_available(settings: Settings, now: float | None = None) -> bool:
    """Whether internationalised addresses (non-ASCII before the @) can be sent.

    The file backend takes anything. For SMTP the server's EHLO answer is asked for (with a
    short timeout) and remembered for five minutes; an unreachable server counts as the last
    answer seen, and as "no" when there is none (the form then refuses such an address rather
    than keep one that may never be deliverable).
    """
    if settings.mail.backend != "smtp":
        return True
    key = (settings.mail.smtp_host, settings.mail.smtp_port)
    now = time.monotonic() if now is None else now
    cached = _probes.get(key)
    if cached is not None and now - cached[0] < PROBE_CACHE_SECONDS:
        return cached[1]
    try:
        with smtplib.SMTP(*key, timeout=PROBE_TIMEOUT_SECONDS) as smtp:
            smtp.ehlo()
            answer = bool(smtp.has_extn("smtputf8"))
    except (smtplib.SMTPException, OSError):
        return cached[1] if cached is not None else False
    _probes[key] = (now, answer)
    return answer


def open_mailer(settings: Settings) -> FileMailer | SmtpMailer:
    """The mailer for `[mail] backend`."""
    return SmtpMailer(settings) if settings.mail.backend == "smtp" else FileMailer(settings)
