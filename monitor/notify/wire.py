"""Mail as it goes on the wire: headers, encoded-words, folding, MIME, bytes.

Python's `email` package with its default policy encodes a long `List-Unsubscribe` as an
RFC 2047 encoded-word (which RFC 2369/8058 readers do not accept) and can drop the space
before an encoded word. So messages are written here, by hand, to the grammar:

- header lines end in CRLF, are folded only at whitespace, and stay within 78 characters
  where the value allows it (a URL or an encoded-word is never split; `List-Unsubscribe`
  stays on one line);
- RFC 2047 encoded-words (`=?utf-8?q?…?=`, at most 75 characters each) appear only in
  unstructured text (Subject) and display names, each separated from its neighbours by
  whitespace; the spaces of the text are kept (inside the encoded-words where they would
  otherwise be lost between two of them);
- `List-Unsubscribe: <URL>` is plain ASCII;
- bodies are UTF-8 in quoted-printable, so every body line is short ASCII.

A `HeaderBlock` holds everything that is the same for every recipient of one mail (per
update and language), already encoded; `build()` adds the few per-recipient headers and the
filled-in bodies. That is what makes 10,000 notices cheap.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt

CRLF = "\r\n"
LINE = 78  # RFC 5322 2.1.1: SHOULD be at most 78 characters (MUST be at most 998)
WORD = 75  # RFC 2047 2: an encoded-word is at most 75 characters
# Ours are shorter, so that "Subject: " and one encoded-word still fit in 78 characters.
WORD_TARGET = 60
# Characters that stand for themselves in a Q-encoded word in any position (RFC 2047 5 (3)).
Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
PREFIX, SUFFIX = "=?utf-8?q?", "?="


class AddressNotSendable(ValueError):
    """An address that cannot be put on the wire (e.g. a non-ASCII local part without SMTPUTF8)."""


def _q(text: str) -> str:
    return "".join(chr(b) if b in Q_SAFE else ("_" if b == 0x20 else f"={b:02X}")
                   for b in text.encode("utf-8"))


def encoded_words(text: str) -> list[str]:
    """`text` as a list of Q encoded-words of at most 60 characters, never splitting a character."""
    words: list[str] = []
    current = ""
    room = WORD_TARGET - len(PREFIX) - len(SUFFIX)
    for char in text:
        piece = _q(char)
        if current and len(current) + len(piece) > room:
            words.append(PREFIX + current + SUFFIX)
            current = ""
        current += piece
    if current or not words:
        words.append(PREFIX + current + SUFFIX)
    return words


def _needs_encoding(word: str) -> bool:
    return not word.isascii() or "=?" in word or len(word) > LINE - 10 or not word.isprintable()


def unstructured_tokens(text: str) -> list[str]:
    """The tokens of an unstructured header value, to be joined by single spaces (or folds).

    Plain ASCII words stay as they are; each run of words that need encoding becomes
    encoded-words. A space between two words of such a run goes inside the encoded text,
    because whitespace between two encoded-words is not displayed (RFC 2047 6.2); a space
    between a plain word and an encoded-word is kept as the folding whitespace between them.
    """
    words = " ".join(text.split()).split(" ") if text.strip() else []
    tokens: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            tokens.extend(encoded_words(" ".join(run)))
            run.clear()

    for word in words:
        if _needs_encoding(word):
            run.append(word)
        else:
            flush()
            tokens.append(word)
    flush()
    return tokens


def fold(name: str, tokens: list[str]) -> str:
    """`Name: token token …` folded at the spaces between tokens, each line within 78 where possible."""
    line = f"{name}:"
    lines: list[str] = []
    for token in tokens:
        if len(line) + 1 + len(token) > LINE and line.strip() and not line.endswith(":"):
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return CRLF.join(lines) + CRLF


def header(name: str, value: str) -> str:
    """An unstructured header (e.g. Subject), encoded where needed and folded."""
    return fold(name, unstructured_tokens(value))


def url_header(name: str, url: str) -> str:
    """`Name: <URL>` in plain ASCII on one line (RFC 2369/8058).

    A URL has no whitespace to fold at, and some receivers read only the first line of a
    folded `List-Unsubscribe`, so the line may pass 78 characters (never 998).
    """
    if not url.isascii() or any(c in url for c in " <>\r\n\t") or len(name) + len(url) + 4 > 998:
        raise ValueError(f"not a plain URL: {url!r}")
    return f"{name}: <{url}>{CRLF}"


ATOM_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def display_name(name: str) -> list[str]:
    """A display name as phrase tokens: atoms, a quoted string, or encoded-words."""
    name = " ".join(name.split())
    if not name:
        return []
    if name.isascii() and name.isprintable():
        if not ATOM_SPECIALS.search(name):
            return name.split(" ")
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return encoded_words(name)


@dataclass(frozen=True)
class WireAddress:
    """An address as it goes on the wire: the SMTP envelope form, and whether it needs SMTPUTF8."""

    envelope: str
    smtputf8: bool


def wire_address(address: str) -> WireAddress:
    """The domain in IDNA (A-label) form; a non-ASCII local part needs SMTPUTF8."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressNotSendable(f"not an address: {address!r}")
    if not domain.isascii():
        import idna

        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise AddressNotSendable(f"domain cannot be written in IDNA form: {exc}") from None
    envelope = f"{local}@{domain}"
    if any(c in envelope for c in ' <>"\r\n\t,;'):
        raise AddressNotSendable(f"not a plain address: {address!r}")
    return WireAddress(envelope, not local.isascii())


def mailbox(name: str, address: str) -> tuple[list[str], WireAddress]:
    """`Name <addr>` tokens for a From/To header and the address on the wire."""
    wire = wire_address(address)
    phrase = display_name(name)
    return ([*phrase, f"<{wire.envelope}>"] if phrase else [wire.envelope]), wire


def split_mailbox(text: str) -> tuple[str, str]:
    """`Name <addr>` or `addr` → (name, addr), for the configured sender."""
    found = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+)>\s*", text)
    if found:
        return found.group(1).strip().strip('"'), found.group(2)
    return "", text.strip()


def qp(text: str) -> str:
    """UTF-8 text as quoted-printable with CRLF line ends, lines at most 76 characters."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(normalised.encode("utf-8"), quotetabs=False, istext=True, header=False)
    lines = encoded.decode("ascii").split("\n")  # LF input: hard and soft breaks are both LF here
    if any(len(line) > 76 for line in lines):  # b2a_qp can pass 76 by an escaped trailing space
        lines = [piece for line in lines for piece in _rewrap(line)]
    return "\r\n".join(lines)


def _rewrap(line: str) -> list[str]:
    """Split an encoded line longer than 76 with soft breaks, never inside an =XX escape."""
    if len(line) <= 76:
        return [line]
    soft = line.endswith("=") and not re.search(r"=[0-9A-F]{2}$", line[-3:])
    tokens = re.findall(r"=[0-9A-F]{2}|[^=]|=$", line)
    if soft:
        tokens = tokens[:-1]
    out, current = [], ""
    for token in tokens:
        if len(current) + len(token) > 75:
            out.append(current + "=")
            current = ""
        current += token
    out.append(current + ("=" if soft else ""))
    return out


def new_boundary() -> str:
    """A MIME boundary that cannot occur in quoted-printable text ("=_" is never literal there)."""
    return f"=_fki_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class HeaderBlock:
    """The headers shared by every recipient of one mail, already encoded, and the MIME frame."""

    sender: str  # envelope sender
    head: str  # From, Subject, Auto-Submitted, MIME-Version, Content-Type… (CRLF-terminated lines)
    boundary: str
    language: str
    domain: str  # right-hand side of Message-IDs

    @classmethod
    def make(cls, sender: str, subject: str, language: str, extra: dict[str, str] | None = None) -> HeaderBlock:
        """Encode the shared headers once: From (`Name <addr>`), Subject and the fixed ones."""
        name, address = split_mailbox(sender)
        tokens, wire = mailbox(name, address)
        boundary = new_boundary()
        head = (fold("From", tokens) + header("Subject", subject)
                + "Auto-Submitted: auto-generated" + CRLF
                + "MIME-Version: 1.0" + CRLF
                + f"Content-Language: {language}" + CRLF
                + "".join(header(k, v) for k, v in (extra or {}).items())
                + f'Content-Type: multipart/alternative; boundary="{boundary}"' + CRLF)
        return cls(wire.envelope, head, boundary, language, wire.envelope.rpartition("@")[2] or "localhost")


@dataclass
class WireMessage:
    """One finished mail: the envelope and the exact bytes to send."""

    sender: str
    recipient: str
    data: bytes
    smtputf8: bool
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)  # a few readable values, for logs and tests

    def as_bytes(self) -> bytes:
        """The message as sent."""
        return self.data

    def __getitem__(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def build(block: HeaderBlock, to: str, *, date: dt.datetime, message_id: str, text: str, html: str,
          unsubscribe_url: str | None = None, subject: str = "") -> WireMessage:
    """One recipient's message from a shared `HeaderBlock`: To, Date, Message-ID, List-* and the two parts."""
    wire = wire_address(to)
    parts = [
        block.head,
        fold("To", [wire.envelope]),
        f"Date: {format_datetime(date)}{CRLF}",
        # Folded before the id when the line would pass 78 (a long sender domain); never inside it.
        f"Message-ID: {message_id}{CRLF}" if len(message_id) <= LINE - 12 else f"Message-ID:{CRLF} {message_id}{CRLF}",
    ]
    if unsubscribe_url:
        parts.append(url_header("List-Unsubscribe", unsubscribe_url))
        parts.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click" + CRLF)
    b = block.boundary
    parts += [
        CRLF,
        f"--{b}{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}",
        CRLF, qp(text), CRLF,
        f"--{b}{CRLF}Content-Type: text/html; charset=utf-8{CRLF}Content-Transfer-Encoding: quoted-printable{CRLF}",
        CRLF, qp(html), CRLF,
        f"--{b}--{CRLF}",
    ]
    data = "".join(parts).encode("utf-8")
    return WireMessage(block.sender, wire.envelope, data, wire.smtputf8, message_id,
                       {"to": wire.envelope, "subject": subject, "message-id": message_id,
                        "list-unsubscribe": f"<{unsubscribe_url}>" if unsubscribe_url else ""})
